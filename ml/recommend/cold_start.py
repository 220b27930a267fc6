"""Cold start: customers without interactions and products without interactions.

- SegmentPopularity: what customers of the same segment (country by default) buy most, filled with global
  popularity; a customer with no interactions at all still has a segment from dim_customers.
- NewProductRecommender: products nobody has interacted with yet reach the customers whose engaged products
  resemble them in content (category, brand, price), so a launch can be recommended before its first sale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ml.recommend.baselines import (
    BaseRecommender,
    PopularityRecommender,
    _check_optional_positive,
    _check_positive_int,
    _sparse_entries,
    shared_top,
)
from ml.recommend.data import DEFAULT_EVENT_WEIGHTS, with_weights

__all__ = ["SegmentPopularity", "NewProductRecommender", "content_vectors"]

UNKNOWN_SEGMENT = "unknown"


class SegmentPopularity(BaseRecommender):
    """Popularity within the customer's segment, then global popularity.

    score(c, p) = distinct buyers of p in c's segment + global buyers of p / (most global buyers + 1), so the
    segment's products come first and the global list fills the rest. A segment with fewer than
    `min_segment_buyers` buyers is too small to trust: its customers get the global list.

    Parameters
    ----------
    segment_columns : sequence of str, default=("country_code",)
        Columns of dim_customers (passed to fit as `customers`) whose values together form the segment.
    min_segment_buyers : int, default=20
    window_days : float or None, default=None
        Count only purchases in the last `window_days`.
    """

    def __init__(self, segment_columns: Sequence[str] = ("country_code",), min_segment_buyers: int = 20,
                 window_days: float | None = None):
        self.segment_columns = segment_columns
        self.min_segment_buyers = min_segment_buyers
        self.window_days = window_days

    def _segments(self, customer_ids: Sequence[str]) -> np.ndarray:
        return self.segment_of_.reindex(pd.Index(customer_ids, dtype=object)).fillna(UNKNOWN_SEGMENT).to_numpy()

    def _fit(self, interactions: pd.DataFrame) -> None:
        _check_positive_int(self.min_segment_buyers, "min_segment_buyers")
        _check_optional_positive(self.window_days, "window_days")
        columns = list(self.segment_columns)
        if not columns or any(not isinstance(column, str) for column in columns):
            raise ValueError(f"segment_columns must be a non-empty sequence of column names, got {self.segment_columns!r}")
        customers = self.customers_ if self.customers_ is not None else pd.DataFrame({"customer_id": []})
        missing = [column for column in ["customer_id", *columns] if column not in customers.columns]
        if self.customers_ is not None and missing:
            raise ValueError(f"customers must have columns {['customer_id', *columns]}; missing {missing}")
        if self.customers_ is None:
            segment_of = pd.Series(dtype=object)
        else:
            values = customers[columns].astype(object).where(customers[columns].notna(), None)
            labels = values.apply(lambda row: " / ".join(str(v) for v in row if v is not None) or UNKNOWN_SEGMENT, axis=1)
            segment_of = pd.Series(labels.to_numpy(), index=customers["customer_id"].astype(str).to_numpy())
        self.segment_of_ = segment_of[~segment_of.index.duplicated()]

        overall = PopularityRecommender(window_days=self.window_days)
        overall.as_of_, overall.item_index_, overall.customer_index_ = self.as_of_, self.item_index_, self.customer_index_
        overall._fit(interactions)
        self.global_fill_ = overall.popularity_ / (overall.popularity_.max(initial=0) + 1)

        purchases = interactions[interactions["interaction_type"] == "purchase"]
        if self.window_days is not None:
            purchases = purchases[purchases["interacted_at"] >= self.as_of_ - pd.Timedelta(days=self.window_days)]
        purchases = purchases.assign(_segment=self._segments(purchases["customer_id"].tolist()))
        buyers_per_segment = purchases.groupby("_segment")["_customer"].nunique()
        trusted = buyers_per_segment[buyers_per_segment >= self.min_segment_buyers].index
        counts = purchases[purchases["_segment"].isin(trusted)].groupby(["_segment", "_item"])["_customer"].nunique()
        self.segment_index_ = pd.Index(trusted, dtype=object)
        self.segment_popularity_ = sparse.csr_matrix(
            (counts.to_numpy(dtype=float),
             (self.segment_index_.get_indexer(counts.index.get_level_values(0)), counts.index.get_level_values(1))),
            shape=(len(self.segment_index_), len(self.item_index_)),
        )

    def _score_ids(self, customer_ids: Sequence[str]) -> np.ndarray:
        rows = self.segment_index_.get_indexer(self._segments(customer_ids))
        scores = np.tile(self.global_fill_, (len(customer_ids), 1))
        has_segment = rows >= 0
        if has_segment.any():
            scores[has_segment] += self.segment_popularity_[rows[has_segment]].toarray()
        return np.where(scores > 0, scores, -np.inf)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        return self._score_ids(self.customer_index_.to_numpy()[rows].tolist())

    _SPARSE = True

    def _entries(self, ids, rows, limit):
        """Everyone in a segment shares its list: each segment's `limit` best products, handed to its customers."""
        segment = self.segment_index_.get_indexer(self._segments(ids))
        groups, inverse = np.unique(segment, return_inverse=True)
        positions, items, scores = [], [], []
        for number, group in enumerate(groups):
            row = self.global_fill_.copy()
            if group >= 0:
                row += self.segment_popularity_[group].toarray().ravel()
            item, score = shared_top(np.where(row > 0, row, -np.inf), self.active_, limit)
            members = np.flatnonzero(inverse == number)
            positions.append(np.repeat(members, len(item)))
            items.append(np.tile(item, len(members)))
            scores.append(np.tile(score, len(members)))
        return np.concatenate(positions), np.concatenate(items), np.concatenate(scores)

    def _score_unknown(self, customer_ids: list[str]) -> np.ndarray:
        return self._score_ids(customer_ids)

    def segment_label(self, customer_ids: Sequence[str]) -> list[str | None]:
        """The trusted segment each customer's list came from, None when it is the global list."""
        segments = self._segments([str(c) for c in customer_ids])
        trusted = set(self.segment_index_)
        return [segment if segment in trusted else None for segment in segments]


def content_vectors(products: pd.DataFrame, *, price_weight: float = 1.0) -> tuple[pd.Index, sparse.csr_matrix]:
    """(product ids, L2-normalised rows): one-hot category, one-hot brand, and the standardised log price
    times `price_weight`; a missing brand or price adds nothing."""
    ids = pd.Index(products["product_id"].astype(str), dtype=object)
    blocks = []
    for column in ("category", "brand"):
        if column in products.columns:
            values = products[column].astype(object)
            present = values.notna().to_numpy()
            codes, uniques = pd.factorize(values[present])
            blocks.append(sparse.csr_matrix((np.ones(len(codes)), (np.nonzero(present)[0], codes)),
                                            shape=(len(ids), max(len(uniques), 1))))
    if "list_price" in products.columns:
        price = np.log1p(products["list_price"].astype(float).clip(lower=0).to_numpy())
        known = np.isfinite(price)
        if known.sum() > 1 and np.nanstd(price) > 0:
            standardised = np.where(known, (price - np.nanmean(price)) / np.nanstd(price), 0.0)
            blocks.append(sparse.csr_matrix(price_weight * standardised.reshape(-1, 1)))
    if not blocks:
        raise ValueError("products must have at least one of the columns category, brand, list_price")
    matrix = sparse.hstack(blocks).tocsr()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
    return ids, (sparse.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ matrix).tocsr()


class NewProductRecommender(BaseRecommender):
    """Products without any interaction before as_of, ranked for each customer by the content similarity of
    the product to the customer's engaged products (weighted by event_weights).

    Only products with a known launch (dim_products.created_at before as_of) are new products: a catalogue
    rebuilt from later sales would otherwise reveal which products are about to sell.

    Parameters
    ----------
    event_weights : mapping, optional
    price_weight : float, default=1.0
        Weight of the standardised log price beside the one-hot category and brand.
    """

    def __init__(self, event_weights: Mapping[str, float] | None = None, price_weight: float = 1.0):
        self.event_weights = event_weights
        self.price_weight = price_weight

    def _fit(self, interactions: pd.DataFrame) -> None:
        if self.products_ is None:
            raise ValueError("NewProductRecommender needs products (category, brand, list_price, created_at)")
        if not isinstance(self.price_weight, (int, float)) or isinstance(self.price_weight, bool) or self.price_weight < 0:
            raise ValueError(f"price_weight must be a number >= 0, got {self.price_weight!r}")
        ids, vectors = content_vectors(self.products_, price_weight=float(self.price_weight))
        # align content rows with the recommender's catalogue; products outside dim_products get none
        position = ids.get_indexer(self.item_index_)
        selector = sparse.csr_matrix((np.ones(int((position >= 0).sum())), (np.nonzero(position >= 0)[0], position[position >= 0])),
                                     shape=(len(self.item_index_), len(ids)))
        self.content_ = (selector @ vectors).tocsr()
        seen = np.zeros(len(self.item_index_), dtype=bool)
        seen[interactions["_item"].to_numpy()] = True
        created = self.products_.assign(product_id=self.products_["product_id"].astype(str)).set_index("product_id")
        created_at = pd.to_datetime(created["created_at"]) if "created_at" in created.columns else pd.Series(dtype="datetime64[us]")
        launched = created_at.reindex(self.item_index_)
        launched_before = (launched.notna() & (launched < self.as_of_)).to_numpy()
        self.new_ = ~seen & launched_before & (position >= 0)
        weighted = with_weights(interactions, self.event_weights or DEFAULT_EVENT_WEIGHTS)
        self.user_items_ = self._matrix(weighted, weighted["weight"].to_numpy())
        self.new_content_ = self.content_[np.nonzero(self.new_)[0]]

    def _similarity(self, rows: np.ndarray) -> sparse.csr_matrix:
        """Cosine between the customers' content profiles and the new products (customers x new products)."""
        profiles = self.user_items_[rows] @ self.content_
        norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1))).ravel()
        profiles = sparse.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ profiles
        return (profiles @ self.new_content_.T).tocsr()

    def _score(self, rows: np.ndarray) -> np.ndarray:
        scores = np.full((len(rows), len(self.item_index_)), -np.inf)
        if not self.new_.any():
            return scores
        similarity = self._similarity(rows).toarray()
        scores[:, self.new_] = np.where(similarity > 0, similarity, -np.inf)
        return scores

    _SPARSE = True

    def _entries(self, ids, rows, limit):
        known = np.flatnonzero(rows >= 0)
        if not self.new_.any() or not len(known):
            return np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([], dtype=float)
        position, new_item, score = _sparse_entries(self._similarity(rows[known]), known)
        return position, np.flatnonzero(self.new_)[new_item], score

    def anchors(self, pairs: pd.DataFrame) -> pd.Series:
        """For (customer_id, product_id) pairs, the customer's engaged product most similar in content to the
        product (the "similar to X" of a reason); None when there is none."""
        rows = self.customer_index_.get_indexer(pd.Index(pairs["customer_id"].astype(str), dtype=object))
        items = self.item_index_.get_indexer(pd.Index(pairs["product_id"].astype(str), dtype=object))
        result: list[str | None] = [None] * len(pairs)
        usable = (rows >= 0) & (items >= 0)
        matrix = self.user_items_
        safe = np.maximum(rows, 0)
        lengths = np.where(usable, matrix.indptr[safe + 1] - matrix.indptr[safe], 0)
        if lengths.sum():
            # every (pair, engaged product) at once: the content cosine of the engaged product with the pair's
            pair = np.repeat(np.arange(len(pairs)), lengths)
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            engaged = matrix.indices[matrix.indptr[rows[pair]] + np.arange(len(pair)) - starts[pair]]
            similarity = np.asarray(self.content_[engaged].multiply(self.content_[items[pair]]).sum(axis=1)).ravel()
            has = np.flatnonzero(lengths > 0)
            best = np.maximum.reduceat(similarity, starts[has])
            first = np.minimum.reduceat(np.where(similarity == np.repeat(best, lengths[has]), np.arange(len(pair)), len(pair)),
                                        starts[has])
            names = self.item_index_.to_numpy()
            for number, value, position in zip(has, best, first):
                if value > 0:
                    result[number] = names[engaged[position]]
        return pd.Series(result, index=pairs.index, dtype=object)
