"""Two-stage next-best-product model: candidate generation from several sources, then a LightGBM LambdaRank
ranker trained on past windows.

Stage 1 (`CandidateGenerator`): each source proposes its top products per customer; the proposals are merged
and de-duplicated, and every candidate keeps each proposing source's score and rank (NaN when a source did not
propose it). Sources: the customer's own purchases with recency decay ("repeat"), iALS ("als"), item-kNN
co-occurrence ("item_knn"), category-affinity popularity ("category"), recent popularity ("trending"), all-time
popularity ("popular"), and content similarity for products without interactions ("new_product").

Stage 2 (`TwoStageRecommender`): for training cutoffs as_of - j x H (j = 1..training_windows) the generator is
fitted on the interactions before that cutoff and its candidates are labelled 1 when the customer bought them
in the H days after it; an `LGBMRanker` (lambdarank, one query per customer) learns to order them from the
source scores and ranks, customer features (marts.customer_features_snapshot as of the cutoff), item features
and customer x product features. All training windows end by as_of, so nothing after it is used.

Customers without interactions get segment popularity (cold_start.SegmentPopularity). Each recommendation
carries a reason from its strongest source (the one that ranked it best).

Scoring (`recommend`) runs in batches of customers so memory does not grow with their number; what does not
depend on the batch (item features, the latest customer snapshot, the history indexed by customer) is computed
once per call (FeatureContext). The output does not depend on the batch size. At scale much of the time is the
ranker itself: LightGBM evaluates every tree for each of about 100 candidates per customer. Early stopping on
the latest training window keeps only the trees that help (109 of the 300 allowed on Online Retail, 25 on
Ta-Feng, with NDCG@10 no lower). `max_candidates` can also cap the candidates ranked per customer (off by
default: at 50 and 75 it lowered NDCG@10 against early stopping alone on both real shops).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ml.recommend.baselines import (
    CategoryAffinityPopularity,
    ImplicitALS,
    ItemKNN,
    PersonalTopFrequency,
    PopularityRecommender,
    PreparedInteractions,
    _check_positive_int,
    _ranks,
    first_k,
    prepare_interactions,
)
from ml.recommend.cold_start import NewProductRecommender, SegmentPopularity
from ml.recommend.data import DEFAULT_EVENT_WEIGHTS, with_weights

__all__ = [
    "CandidateGenerator",
    "TwoStageRecommender",
    "merge_candidates",
    "cap_candidates",
    "candidate_features",
    "DEFAULT_CANDIDATES_PER_SOURCE",
    "SOURCES",
]

#: Customers scored at once by TwoStageRecommender.recommend: bounds memory (about 100 candidates of ~60 features
#: per customer) whatever the number of customers.
DEFAULT_BATCH_SIZE = 20_000
#: Candidate rows the ranker predicts at once (a 65,536 x ~55 float block is about 28 MB).
RANKER_ROWS_PER_BLOCK = 1 << 16
#: Rounds without NDCG@10 improvement on the held-out latest window before the ranker stops adding trees.
DEFAULT_EARLY_STOPPING_ROUNDS = 30
#: iALS sweeps of a daily refresh, started from the previous factors (a full fit runs 15 from random values).
DEFAULT_ALS_REFRESH_ITERATIONS = 3
#: Candidates per customer the ranker scores (best by reciprocal-rank fusion of the sources' ranks).
DEFAULT_MAX_CANDIDATES = None
#: Sources in the order that breaks ties when two rank a candidate equally well (for its reason).
SOURCES = ("repeat", "item_knn", "new_product", "als", "category", "trending", "popular")
#: "popular" is off by default: on Ta-Feng's validation cutoff (2001-01-31, two weeks before the reported one)
#: adding it with longer lists raised candidate recall but not NDCG@10, for 60 % more fitting time.
DEFAULT_CANDIDATES_PER_SOURCE: Mapping[str, int] = {
    "repeat": 40, "als": 50, "item_knn": 50, "category": 30, "trending": 20, "new_product": 10,
}
#: Numeric columns of marts.customer_features_snapshot the ranker reads (those present are used).
CUSTOMER_FEATURE_COLUMNS = (
    "tenure_days", "days_since_last_purchase", "purchase_orders_30d", "purchase_orders_90d", "purchase_orders_lifetime",
    "net_revenue_90d", "net_revenue_lifetime", "average_order_value", "revenue_trend_90d", "top_category_spend_share",
    "discounted_line_share", "price_to_category_median_ratio", "sessions_90d", "product_views_90d",
    "add_to_carts_90d", "add_to_cart_rate_90d", "average_session_minutes_90d", "mean_rating_lifetime",
    "return_rate_lifetime",
)


def merge_candidates(proposals: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (customer_id, product_id) proposed by any source.

    Parameters
    ----------
    proposals : mapping of source name to DataFrame
        Each with customer_id, product_id, rank, score (as `recommend` returns them).

    Returns
    -------
    DataFrame with customer_id, product_id, `<source>_score` and `<source>_rank` for every source given (NaN
    where the source did not propose the product), `n_sources` and `sources` (proposing sources joined by "+").
    """
    if not proposals:
        raise ValueError("proposals must hold at least one source")
    names = list(proposals)
    customers, products, ranks, scores, origins = [], [], [], [], []
    for number, (source, frame) in enumerate(proposals.items()):
        missing = [c for c in ("customer_id", "product_id", "rank", "score") if c not in frame.columns]
        if missing:
            raise ValueError(f"proposals[{source!r}] lacks columns {missing}")
        customers.append(frame["customer_id"].astype(str).to_numpy(dtype=object))
        products.append(frame["product_id"].astype(str).to_numpy(dtype=object))
        ranks.append(frame["rank"].to_numpy(dtype=float))
        scores.append(frame["score"].to_numpy(dtype=float))
        origins.append(np.full(len(frame), number, dtype=np.int64))
    customer, product = np.concatenate(customers), np.concatenate(products)
    rank, score, origin = np.concatenate(ranks), np.concatenate(scores), np.concatenate(origins)
    # integer codes in string order: one int64 key sorts the pairs as (customer_id, product_id) strings do
    customer_code, customer_names = _sorted_codes(customer)
    product_code, product_names = _sorted_codes(product)
    return _merge_coded(names, customer_code, customer_names, product_code, product_names, rank, score, origin)[0]


def _merge_coded(names: list[str], customer_code, customer_names, product_code, product_names, rank, score,
                 origin) -> tuple[pd.DataFrame, tuple]:
    """merge_candidates of proposals given as codes whose order is the names' string order, and the merged rows
    as codes for FeatureContext.features: (customer code per row, customer ids by code, product code per row,
    product ids by code)."""
    width = max(len(product_names), 1)
    pair = customer_code.astype(np.int64) * width + product_code
    origin = np.asarray(origin, dtype=np.int64)
    # each entry's row among the distinct pairs (sorting pairs alone is cheap: every source lists its
    # customers in order), then every (source, row) cell finds its entry without sorting the entries
    pairs, row = np.unique(pair, return_inverse=True)
    entry = np.full((len(names), len(pairs)), -1, dtype=np.int64)
    entry[origin, row] = np.arange(len(pair))
    if int((entry >= 0).sum()) != len(pair):
        # a source listing a product twice for one customer keeps its best rank
        order = np.lexsort((rank, origin, pair))
        first = np.r_[True, (pair[order][1:] != pair[order][:-1]) | (origin[order][1:] != origin[order][:-1])]
        best = order[first]
        entry = np.full((len(names), len(pairs)), -1, dtype=np.int64)
        entry[origin[best], row[best]] = best
    present = entry >= 0
    # the id strings of the distinct customers and products, taken by code (no per-row string conversion)
    columns = {
        "customer_id": pd.array(np.asarray(customer_names, dtype=object), dtype="str").take(pairs // width),
        "product_id": pd.array(np.asarray(product_names, dtype=object), dtype="str").take(pairs % width),
    }
    for number, source in enumerate(names):
        found = entry[number]
        for value, values in (("score", score), ("rank", rank)):
            values = np.asarray(values, dtype=float)
            columns[f"{source}_{value}"] = np.where(present[number], values[np.maximum(found, 0)], np.nan) \
                if len(values) else np.full(len(pairs), np.nan)
    columns["n_sources"] = present.sum(axis=0).astype(np.int64)
    # the "+"-joined names of every combination of sources, looked up by bit pattern
    bits = (present.astype(np.int64) * (1 << np.arange(len(names), dtype=np.int64))[:, None]).sum(axis=0)
    if len(names) <= 16:
        seen = np.flatnonzero(np.bincount(bits, minlength=1 << len(names)))
        lookup = np.zeros(1 << len(names), dtype=np.int64)
        lookup[seen] = np.arange(len(seen))
        patterns, inverse = seen, lookup[bits]
    else:
        patterns, inverse = np.unique(bits, return_inverse=True)
    labels = np.array(["+".join(name for n, name in enumerate(names) if pattern >> n & 1) for pattern in patterns], dtype=object)
    columns["sources"] = pd.array(labels, dtype="str").take(np.asarray(inverse, dtype=np.int64))
    # copy=False: one block per column, not a copy of all of them into one (which nothing here needs)
    return pd.DataFrame(columns, copy=False), (pairs // width, customer_names, pairs % width, product_names)


def cap_candidates(candidates: pd.DataFrame, max_candidates: int | None) -> pd.DataFrame:
    """The `max_candidates` candidates of each customer with the best reciprocal-rank fusion of their source
    ranks (sum of 1 / rank over the proposing sources; ties: product_id order), in the input's row order.

    The ranker's cost grows with the candidates it scores, and the few ranked worst by every source rarely
    reach a top 10. None keeps them all."""
    if max_candidates is None or candidates.empty:
        return candidates
    _check_positive_int(max_candidates, "max_candidates")
    ranks = candidates[[column for column in candidates.columns if column.endswith("_rank")]].to_numpy(dtype=float)
    fusion = np.nansum(1.0 / ranks, axis=1)
    customer_code = pd.factorize(candidates["customer_id"].to_numpy(dtype=object))[0]
    product = candidates["product_id"].to_numpy(dtype=object)
    # stable sorts: product order, then fusion descending, then customer, so ties fall back to product_id
    order = np.argsort(product, kind="stable")
    order = order[np.argsort(-fusion[order], kind="stable")]
    order = order[np.argsort(customer_code[order], kind="stable")]
    sorted_codes = customer_code[order]
    starts = np.r_[0, np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1]
    position = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = np.sort(order[position < max_candidates])
    if len(keep) == len(candidates):
        return candidates
    return candidates.iloc[keep].reset_index(drop=True)


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code of each value, the distinct values in sorted order): codes follow the values' sort order."""
    codes, uniques = pd.factorize(values)
    uniques = np.asarray(uniques, dtype=object)
    order = np.argsort(uniques, kind="stable")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    return position[codes], uniques[order]


class CandidateGenerator:
    """Stage 1: fit every candidate source as of a date and propose their merged top products per customer.

    Parameters
    ----------
    per_source : mapping of source to int, optional
        Candidates each source proposes per customer; defaults to DEFAULT_CANDIDATES_PER_SOURCE. A source set to
        0 is off.
    recency_half_life_days : float, default=30.0
        Decay of the "repeat" source's purchase counts.
    trending_window_days : float, default=14.0
    als_factors : int, default=64
    knn_neighbours : int, default=100
    event_weights : mapping, optional
        Weight per interaction type for iALS, item-kNN, category affinity and content profiles.
    random_state : int, default=0
    num_threads : int, default=1
    als_refresh_iterations : int or None, default=None
        iALS sweeps when fit_prepared is given a previous generator to start from (None: a full fit).
    """

    def __init__(self, per_source: Mapping[str, int] | None = None, *, recency_half_life_days: float = 30.0,
                 trending_window_days: float = 14.0, als_factors: int = 64, knn_neighbours: int = 100,
                 event_weights: Mapping[str, float] | None = None, random_state: int = 0, num_threads: int = 1,
                 als_refresh_iterations: int | None = None):
        self.per_source = per_source
        self.recency_half_life_days = recency_half_life_days
        self.trending_window_days = trending_window_days
        self.als_factors = als_factors
        self.knn_neighbours = knn_neighbours
        self.event_weights = event_weights
        self.random_state = random_state
        self.num_threads = num_threads
        self.als_refresh_iterations = als_refresh_iterations

    def _counts(self) -> dict[str, int]:
        counts = dict(DEFAULT_CANDIDATES_PER_SOURCE if self.per_source is None else self.per_source)
        unknown = set(counts) - set(SOURCES)
        if unknown:
            raise ValueError(f"per_source keys must be among {SOURCES}, got {sorted(unknown)}")
        for source, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
                raise ValueError(f"per_source[{source!r}] must be an int >= 0, got {count!r}")
        if not any(counts.values()):
            raise ValueError("per_source must turn on at least one source")
        return {source: int(count) for source, count in counts.items() if count > 0}

    def fit(self, interactions: pd.DataFrame, *, products: pd.DataFrame | None = None, as_of=None) -> "CandidateGenerator":
        return self.fit_prepared(prepare_interactions(interactions, products=products, as_of=as_of), products=products)

    def fit_prepared(self, prepared: PreparedInteractions, *, products: pd.DataFrame | None = None,
                     previous: "CandidateGenerator | None" = None) -> "CandidateGenerator":
        """fit on interactions checked and coded once (prepare_interactions) for every source. With `previous`
        (a fitted generator, e.g. yesterday's) iALS starts from its factors and runs `als_refresh_iterations`
        sweeps (ImplicitALS.warm_started_fit); the counting sources are refitted in full."""
        counts = self._counts()
        # a plain dict: the sources keep it, and fitted models are pickled as artifacts (a mappingproxy is not)
        weights = dict(self.event_weights or DEFAULT_EVENT_WEIGHTS)
        has_categories = products is not None and "category" in products.columns
        builders = {
            "repeat": lambda: PersonalTopFrequency(recency_half_life_days=self.recency_half_life_days),
            "als": lambda: ImplicitALS(factors=self.als_factors, event_weights=weights, random_state=self.random_state,
                                       num_threads=self.num_threads),
            "item_knn": lambda: ItemKNN(neighbours=self.knn_neighbours, event_weights=weights),
            "category": lambda: CategoryAffinityPopularity(event_weights=weights),
            "trending": lambda: PopularityRecommender(window_days=self.trending_window_days),
            "popular": lambda: PopularityRecommender(),
            "new_product": lambda: NewProductRecommender(event_weights=weights),
        }
        self.sources_ = {}
        self.fit_seconds_ = {}
        for source, _ in counts.items():
            if source in ("category", "new_product") and not has_categories:
                continue  # content sources need the catalogue
            started = time.perf_counter()
            earlier = previous.sources_.get(source) if previous is not None else None
            if source == "als" and earlier is not None and self.als_refresh_iterations is not None:
                self.sources_[source] = builders[source]().warm_started_fit(
                    prepared, earlier, self.als_refresh_iterations, products=products)
            else:
                self.sources_[source] = builders[source]().fit_prepared(prepared, products=products)
            self.fit_seconds_[source] = time.perf_counter() - started
        self.counts_ = {source: counts[source] for source in self.sources_}
        any_source = next(iter(self.sources_.values()))
        self.as_of_ = any_source.as_of_
        self.customer_index_ = any_source.customer_index_
        return self

    def generate(self, customer_ids: Sequence, *, exclude: pd.DataFrame | None = None) -> pd.DataFrame:
        """Merged candidates of `customer_ids` (see merge_candidates), every source's columns present."""
        return self._generate_coded(customer_ids, exclude=exclude)[0]

    def _generate_coded(self, customer_ids: Sequence, *, exclude: pd.DataFrame | None = None) -> tuple[pd.DataFrame, tuple | None]:
        """generate, and its rows as codes (see _merge_coded) when the sources share one catalogue (else None)."""
        if not hasattr(self, "sources_"):
            raise ValueError("CandidateGenerator is not fitted; call fit first")
        ids = list(dict.fromkeys(str(c) for c in customer_ids))
        items = next(iter(self.sources_.values())).item_index_
        codes = None
        if all(model.item_index_.equals(items) for model in self.sources_.values()):
            merged, codes = self._merge_entries(ids, items, exclude)
        else:
            proposals = {source: model.recommend(ids, self.counts_[source], exclude=exclude)
                         for source, model in self.sources_.items()}
            merged = merge_candidates(proposals)
        for source in SOURCES:  # a fixed feature layout whichever sources ran
            for value in ("score", "rank"):
                if f"{source}_{value}" not in merged.columns:
                    merged[f"{source}_{value}"] = np.nan
        return merged, codes


    def _merge_entries(self, ids: list[str], items: pd.Index, exclude) -> tuple[pd.DataFrame, tuple]:
        """merge_candidates of every source's lists, kept as item numbers of the shared catalogue instead of
        strings until the end (the same frame, without converting millions of ids back and forth)."""
        positions, item_numbers, ranks, scores, origins = [], [], [], [], []
        for number, (source, model) in enumerate(self.sources_.items()):
            position, item, score = model.top_entries(ids, self.counts_[source], exclude=exclude)
            positions.append(position), item_numbers.append(item), scores.append(score)
            ranks.append(_ranks(position).astype(float)), origins.append(np.full(len(position), number, dtype=np.int64))
        customer_order = np.argsort(np.asarray(ids, dtype=object), kind="stable")
        customer_rank = np.empty(len(ids), dtype=np.int64)
        customer_rank[customer_order] = np.arange(len(ids))
        item_names = items.to_numpy(dtype=object)
        item_order = np.argsort(item_names, kind="stable")
        item_rank = np.empty(len(item_names), dtype=np.int64)
        item_rank[item_order] = np.arange(len(item_names))
        return _merge_coded(list(self.sources_), customer_rank[np.concatenate(positions)],
                            np.asarray(ids, dtype=object)[customer_order], item_rank[np.concatenate(item_numbers)],
                            item_names[item_order], np.concatenate(ranks), np.concatenate(scores), np.concatenate(origins))


def _days(as_of: pd.Timestamp, moments: pd.Series) -> pd.Series:
    return (as_of - moments).dt.total_seconds() / 86_400


def candidate_features(
    candidates: pd.DataFrame,
    interactions: pd.DataFrame,
    *,
    products: pd.DataFrame | None,
    customer_features: pd.DataFrame | None,
    as_of,
) -> pd.DataFrame:
    """Ranker features of each candidate row, from data strictly before `as_of` only.

    Source columns (`<source>_score`, `<source>_rank`, n_sources) plus
    item: distinct buyers in the last 7 / 30 days and overall, trend (buyers of the last 14 days against the 14
    before), views in 30 days, mean rating, days since its first interaction, log list price and price against
    its category median;
    customer x product: views, carts, purchase occasions, days since the last interaction and the last purchase,
    the customer's share of interaction weight in the product's category, whether the category is the
    customer's top category, and the product's price against the median price of the customer's purchases;
    customer: purchase occasions, distinct products, days since the last interaction, and the snapshot columns
    of CUSTOMER_FEATURE_COLUMNS from the latest as_of_date on or before `as_of`.
    """
    return FeatureContext(interactions, products=products, customer_features=customer_features, as_of=as_of).features(candidates)


class FeatureContext:
    """What candidate_features needs that does not depend on the candidates (item features, catalogue maps, the
    latest customer snapshot, the history grouped by customer), computed once so that scoring customers in
    batches repeats only the per-customer part."""

    def __init__(self, interactions: pd.DataFrame, *, products: pd.DataFrame | None,
                 customer_features: pd.DataFrame | None, as_of):
        as_of = pd.Timestamp(as_of)
        if (interactions["interacted_at"] >= as_of).any():
            raise ValueError(f"interactions must all be before as_of ({as_of})")
        self.as_of = as_of
        history = interactions.assign(customer_id=interactions["customer_id"].astype(str),
                                      product_id=interactions["product_id"].astype(str))
        if "weight" not in history.columns:
            history = with_weights(history)
        age = _days(as_of, history["interacted_at"])
        history = history.assign(_age=age.to_numpy())
        purchase_rows = np.flatnonzero((history["interaction_type"] == "purchase").to_numpy(dtype=bool))
        purchases = history.iloc[purchase_rows]
        # drop_duplicates, keeping the rows' positions in the history
        first_line = ~purchases.duplicated(["customer_id", "product_id", "interacted_at"]).to_numpy()
        occasions, occasion_rows = purchases[first_line], purchase_rows[first_line]

        # item features
        def buyers(max_age: float, min_age: float = 0.0) -> pd.Series:
            window = purchases[(purchases["_age"] <= max_age) & (purchases["_age"] > min_age)]
            return window.groupby("product_id")["customer_id"].nunique()

        items = pd.DataFrame({
            "item_buyers_7d": buyers(7), "item_buyers_30d": buyers(30), "item_buyers_all": buyers(np.inf),
            "item_buyers_14d": buyers(14), "item_buyers_prev_14d": buyers(28, 14),
        })
        items["item_views_30d"] = history[(history["interaction_type"] == "view") & (history["_age"] <= 30)].groupby("product_id").size()
        items["item_mean_rating"] = history[history["interaction_type"] == "rating"].groupby("product_id")["rating"].mean()
        items["item_days_since_first"] = history.groupby("product_id")["_age"].max()
        items = items.fillna({c: 0.0 for c in ("item_buyers_7d", "item_buyers_30d", "item_buyers_all", "item_buyers_14d",
                                               "item_buyers_prev_14d", "item_views_30d")})
        items["item_trend"] = (items["item_buyers_14d"] + 1) / (items["item_buyers_prev_14d"] + 1)
        self.items = items.drop(columns=["item_buyers_14d", "item_buyers_prev_14d"])

        self.category = pd.Series(dtype=object)
        self.price = pd.Series(dtype=float)
        if products is not None and len(products):
            catalogue = products.assign(product_id=products["product_id"].astype(str)).drop_duplicates("product_id").set_index("product_id")
            if "category" in catalogue.columns:
                self.category = catalogue["category"].astype(object)
            if "list_price" in catalogue.columns:
                self.price = catalogue["list_price"].astype(float)
        self.category_medians = self.price.groupby(self.category).median() if len(self.category) and len(self.price) else None
        # the same lookups by position: every product / snapshot customer once, so a batch takes instead of maps
        # object-dtype indexes: a lookup in an index of arrow strings converts the whole index every call
        self._products = pd.Index(self.items.index.union(self.category.index).union(self.price.index), dtype=object)
        self._item_values = {column: _padded(self.items[column].reindex(self._products).to_numpy(dtype=float), np.nan)
                             for column in self.items.columns}
        self._category_values = _padded(self.category.reindex(self._products).to_numpy(dtype=object), np.nan)
        self._price_values = _padded(self.price.reindex(self._products).to_numpy(dtype=float), np.nan)
        if self.category_medians is not None:
            medians = pd.Series(self._category_values[:-1]).map(self.category_medians).to_numpy(dtype=float)
            self._median_values = _padded(medians, np.nan)

        # each customer's rows, in their original order, found by position (the batches' customer x product part)
        self.history = history
        self.occasions = occasions
        self._history_rows = _rows_by_customer(history["customer_id"])
        # coded like the history's customers: no second pass over the id strings
        self._occasion_rows = _rows_by_customer(occasions["customer_id"], coded=(
            self._history_rows.codes[occasion_rows], self._history_rows.index))

        self.snapshot = None
        self.top_category = pd.Series(dtype=object)
        if customer_features is not None and len(customer_features):
            snapshot = customer_features[pd.to_datetime(customer_features["as_of_date"]) <= as_of]
            snapshot = snapshot.sort_values("as_of_date").drop_duplicates("customer_id", keep="last")
            self.snapshot = snapshot.assign(customer_id=snapshot["customer_id"].astype(str)).set_index("customer_id")
            if "top_category" in self.snapshot.columns:
                self.top_category = self.snapshot["top_category"].astype(object)
        self._snapshot_values = {}
        if self.snapshot is not None:
            self._snapshot_values = {column: _padded(self.snapshot[column].astype(float).to_numpy(dtype=float), np.nan)
                                     for column in CUSTOMER_FEATURE_COLUMNS if column in self.snapshot.columns}
        self._top_category_values = _padded(self.top_category.to_numpy(dtype=object), np.nan)
        self._snapshot_index = pd.Index(self.snapshot.index, dtype=object) if self.snapshot is not None else None
        self._top_category_index = pd.Index(self.top_category.index, dtype=object)

        # the history as integer arrays, looked up once here instead of by id string in every batch: customers
        # by their code in _history_rows, products by position in the lookup (-1 outside it) and by a code of
        # their own (distinct products), categories by a code shared by history, catalogue and snapshot
        known_categories = self.category.dropna().to_numpy(dtype=object)
        self._category_vocabulary = pd.Index(pd.unique(np.append(known_categories, np.array(["unknown"], dtype=object))),
                                             dtype=object)

        def category_codes(padded_values: np.ndarray) -> np.ndarray:
            """Codes in the vocabulary of category names padded like _padded's (NaN: -1, padding -1 too)."""
            values = padded_values[:-1]
            codes = self._category_vocabulary.get_indexer(pd.Index(values, dtype=object))
            return _padded(np.where(pd.isna(values), -1, codes), -1)

        self._category_codes = category_codes(self._category_values)
        self._top_category_codes = category_codes(self._top_category_values)
        # each distinct product id looked up once
        product_code, product_ids = pd.factorize(history["product_id"].array)
        history_item = self._products.get_indexer(pd.Index(product_ids, dtype=object))[product_code] if len(history) \
            else np.array([], dtype=np.int64)
        kind = history["interaction_type"]
        # the category each row counts under in category shares: the catalogue's (position -1, outside the
        # lookup, takes the padding, -1), "unknown" without one
        history_category = self._category_codes[history_item]
        history_category = np.where(history_category < 0, self._category_vocabulary.get_loc("unknown"), history_category)
        self._history = {
            "customer": self._history_rows.codes, "item": history_item, "product": product_code,
            "view": (kind == "view").to_numpy(dtype=bool), "cart": (kind == "cart").to_numpy(dtype=bool),
            "age": history["_age"].to_numpy(dtype=float), "weight": history["weight"].to_numpy(dtype=float),
            "category": history_category,
        }
        occasion_item = history_item[occasion_rows]
        self._occasions = {
            "customer": self._history_rows.codes[occasion_rows],
            "item": occasion_item, "age": occasions["_age"].to_numpy(dtype=float),
            "price": self._price_values[occasion_item],
            # a customer's first line of each purchase moment (rows of other customers never share the key)
            "first": ~occasions.duplicated(["customer_id", "interacted_at"]).to_numpy(),
        }

    def features(self, candidates: pd.DataFrame, *, codes=None) -> pd.DataFrame:
        """candidate_features of `candidates` (whose customers may be any subset of the history's).

        `codes` (customer code per row, customer ids by code, product code per row, product ids by code), when
        the caller has the rows' ids as codes already, spares hashing a million id strings twice."""
        frame = candidates.copy(deep=False)  # copy-on-write: the caller's frame is never changed
        frame["customer_id"] = frame["customer_id"].astype(str)
        frame["product_id"] = frame["product_id"].astype(str)
        # each distinct id looked up once: position -1 (unknown product) takes the padding, NaN, as a left
        # merge or map gives
        if codes is not None:
            customer_code, customer_names, product_code, product_names = codes
            frame_customer, first_code = pd.factorize(np.asarray(customer_code, dtype=np.int64))
            wanted = pd.Index(np.asarray(customer_names, dtype=object)[first_code], dtype=object)
        else:
            product_code, product_names = pd.factorize(frame["product_id"].to_numpy(dtype=object))
            frame_customer, wanted = pd.factorize(frame["customer_id"].to_numpy(dtype=object))
            wanted = pd.Index(wanted, dtype=object)
        product = self._products.get_indexer(pd.Index(np.asarray(product_names, dtype=object), dtype=object))[product_code] \
            if len(frame) else np.array([], dtype=np.int64)
        # the new columns, added to the frame at once at the end (one insert per column copies every time)
        new = {column: values[product] for column, values in self._item_values.items()}
        # the dtype Series.map would give (str when every value is a string): inferred from the distinct
        # products' categories, then taken per row
        distinct_code, distinct_product = pd.factorize(product)
        categories = pd.Series(self._category_values[distinct_product], dtype=object).infer_objects()
        new["item_category"] = pd.Series(categories.array.take(distinct_code), index=frame.index)
        item_price = self._price_values[product]
        new["item_price"] = item_price
        new["item_log_price"] = np.log1p(np.where(item_price < 0, 0.0, item_price))
        if self.category_medians is not None:
            new["item_price_vs_category_median"] = item_price / self._median_values[product]
        else:
            new["item_price_vs_category_median"] = np.full(len(frame), np.nan)

        # customer x product features, from the candidate customers' history only. Keys are integer codes
        # (customer: position among the batch's customers, product: position in the catalogue lookup), so
        # looking up a million candidate rows costs array indexing, not a join on id strings.
        history_rows, occasion_rows = self._history_rows(wanted), self._occasion_rows(wanted)
        # history customer code -> position in wanted (only wanted customers' rows are taken)
        batch_position = np.full(len(self._history_rows.index) + 1, -1, dtype=np.int64)
        global_code = self._history_rows.index.get_indexer(wanted)
        batch_position[global_code[global_code >= 0]] = np.flatnonzero(global_code >= 0)
        mine = {name: values[history_rows] for name, values in self._history.items()}
        occasions = {name: values[occasion_rows] for name, values in self._occasions.items()}
        mine_customer, occasion_customer = batch_position[mine["customer"]], batch_position[occasions["customer"]]
        width = len(self._products) + 1  # the last code stands for a product outside the lookup

        def pair_codes(customer: np.ndarray, item: np.ndarray) -> np.ndarray:
            return customer.astype(np.int64) * width + np.where(item < 0, width - 1, item)

        frame_pair = pair_codes(frame_customer, product)

        def found_in(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
            """Position of each key in sorted distinct keys, -1 where absent."""
            if not len(sorted_keys):
                return np.full(len(keys), -1, dtype=np.int64)
            found = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
            return np.where(sorted_keys[found] == keys, found, -1)

        def looked_up(values: pd.Series, keys: np.ndarray, missing=np.nan) -> np.ndarray:
            """values (indexed by sorted distinct codes) at keys, `missing` where a key has none."""
            found = found_in(keys, values.index.to_numpy())
            return np.where(found >= 0, values.to_numpy(dtype=float)[np.maximum(found, 0)], missing) if len(values) \
                else np.full(len(keys), missing, dtype=float)

        mine_pair = pair_codes(mine_customer, mine["item"])
        occasion_pair = pair_codes(occasion_customer, occasions["item"])
        # every pair statistic is indexed by the customer's history pairs (occasions are among them): each
        # candidate row finds its pair once; -1 (never touched) takes the last slot, the value for none
        pair_keys = np.unique(mine_pair)
        at_pair = found_in(frame_pair, pair_keys)

        def per_pair(values: pd.Series, missing=np.nan) -> np.ndarray:
            dense = np.full(len(pair_keys) + 1, missing, dtype=float)
            dense[np.searchsorted(pair_keys, values.index.to_numpy())] = values.to_numpy(dtype=float)
            return dense[at_pair]

        def per_customer(values: pd.Series, missing=np.nan) -> np.ndarray:
            dense = np.full(len(wanted) + 1, missing, dtype=float)
            dense[values.index.to_numpy()] = values.to_numpy(dtype=float)
            return dense[frame_customer]

        mine_age = pd.Series(mine["age"])
        new["pair_views"] = per_pair(pd.Series(mine_pair[mine["view"]]).value_counts(), 0.0)
        new["pair_carts"] = per_pair(pd.Series(mine_pair[mine["cart"]]).value_counts(), 0.0)
        new["pair_purchases"] = per_pair(pd.Series(occasion_pair).value_counts(), 0.0)
        new["pair_days_since_last"] = per_pair(mine_age.groupby(mine_pair).min())
        new["pair_days_since_last_purchase"] = per_pair(pd.Series(occasions["age"]).groupby(occasion_pair).min())

        category_width = max(len(self._category_vocabulary), 1)
        category_pair = mine_customer * category_width + mine["category"]
        weight = pd.Series(mine["weight"])
        weight_by_category = weight.groupby(category_pair).sum()
        total = weight.groupby(mine_customer).sum()
        share = weight_by_category / total.reindex(weight_by_category.index // category_width).to_numpy()
        frame_category = self._category_codes[product]
        new["pair_category_share"] = np.where(
            frame_category >= 0, looked_up(share, frame_customer.astype(np.int64) * category_width
                                           + np.maximum(frame_category, 0), 0.0), 0.0)

        paid = pd.Series(occasions["price"]).groupby(occasion_customer).median()
        new["pair_price_vs_customer_median"] = item_price / per_customer(paid)

        # customer features (float whichever customers the batch holds: the ranker reads floats anyway)
        new["customer_purchase_occasions"] = per_customer(pd.Series(occasion_customer[occasions["first"]]).value_counts())
        new["customer_distinct_products"] = per_customer(pd.Series(mine["product"]).groupby(mine_customer).nunique())
        new["customer_days_since_last"] = per_customer(mine_age.groupby(mine_customer).min())
        snapshot_row = self._snapshot_index.get_indexer(wanted)[frame_customer] if self.snapshot is not None else None
        for column, values in self._snapshot_values.items():
            new[f"snapshot_{column}"] = values[snapshot_row]
        for column in CUSTOMER_FEATURE_COLUMNS:  # a fixed layout whichever columns the snapshot has
            if f"snapshot_{column}" not in new and f"snapshot_{column}" not in frame.columns:
                new[f"snapshot_{column}"] = np.full(len(frame), np.nan)
        if len(self.top_category):
            customer_top = self._top_category_codes[self._top_category_index.get_indexer(wanted)[frame_customer]]
            new["pair_is_top_category"] = ((customer_top >= 0) & (customer_top == frame_category)).astype(float)
        else:
            new["pair_is_top_category"] = np.zeros(len(frame))
        # columns the candidates already had are replaced where they stand, as assigning them would
        for column in [column for column in new if column in frame.columns]:
            frame[column] = new.pop(column)
        # copy=False: the new arrays become the frame's columns as they are, not copied into one block
        return pd.concat([frame, pd.DataFrame(new, index=frame.index, copy=False)], axis=1)


def _padded(values: np.ndarray, fill) -> np.ndarray:
    """values with one more element, `fill`, which position -1 (not found) takes."""
    return np.append(values, np.array([fill], dtype=values.dtype))


def _rows_by_customer(customer_ids: pd.Series, *, coded: tuple[np.ndarray, pd.Index] | None = None):
    """A function giving the positions of the rows of some customers, each customer's rows in original order.
    `coded`: the rows' customers already as (code per row, customers by code)."""
    # factorized as stored (Arrow strings hash far faster than the Python strings to_numpy would make)
    codes, names = pd.factorize(customer_ids.array) if coded is None else coded
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(names))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    index = pd.Index(names, dtype=object)

    def rows(wanted) -> np.ndarray:
        code = index.get_indexer(pd.Index(wanted, dtype=object))
        code = np.sort(code[code >= 0])
        lengths = counts[code]
        offsets = np.repeat(starts[code] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.sort(order[np.arange(int(lengths.sum())) + offsets])

    rows.codes, rows.index = codes, index  # each row's customer code, and the customers by code
    return rows


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric model inputs of a candidate_features frame."""
    skip = {"customer_id", "product_id", "sources", "item_category", "item_price", "label"}
    return [column for column in frame.columns if column not in skip]


REASON_TEXT = {
    "repeat": "bought before",
    "als": "customers with similar taste bought it",
    "trending": "trending",
    "popular": "popular",
}


class TwoStageRecommender:
    """Candidates from several sources re-ranked by LightGBM LambdaRank trained on past windows.

    Parameters
    ----------
    horizon_days : int, default=14
        Label window: a candidate is positive when the customer bought it in the H days after the cutoff.
    training_windows : int, default=3
        Past cutoffs as_of - j x horizon_days, j = 1..training_windows, that the ranker learns from.
    max_customers_per_window : int, default=4000
        Buyers of a training window sampled for its queries (bounds training time).
    per_source : mapping, optional
        Candidates per source (see CandidateGenerator).
    recency_half_life_days : float, default=30.0
    segment_columns : sequence of str, default=("country_code",)
        dim_customers columns whose popularity serves customers without history.
    event_weights : mapping, optional
    n_estimators : int, default=300
        Most trees of the ranker; with early stopping usually fewer are kept.
    early_stopping_rounds : int or None, default=DEFAULT_EARLY_STOPPING_ROUNDS
        The number of trees is chosen on the latest training window held out as validation (NDCG@10 of its
        queries): training stops once it has not improved for this many rounds, then the ranker is refitted on
        every window with the best number of trees (`best_iteration_`). None (or a single window) trains
        n_estimators trees. Scoring cost is proportional to the trees kept.
    max_candidates : int or None, default=DEFAULT_MAX_CANDIDATES
        Candidates per customer the ranker scores, in training and scoring alike: the best by reciprocal-rank
        fusion of their source ranks (cap_candidates). None ranks every merged candidate (about 100).
    als_refresh_iterations : int or None, default=DEFAULT_ALS_REFRESH_ITERATIONS
        iALS sweeps when `refresh` refits the candidate sources, starting from the previous factors (customers
        and products kept by id); None refits iALS from scratch.
    learning_rate : float, default=0.05
    num_leaves : int, default=31
    min_child_samples : int, default=50
    n_jobs : int, default=1
    random_state : int, default=0
    """

    def __init__(self, horizon_days: int = 14, training_windows: int = 3, max_customers_per_window: int = 4000,
                 per_source: Mapping[str, int] | None = None, recency_half_life_days: float = 30.0,
                 segment_columns: Sequence[str] = ("country_code",), event_weights: Mapping[str, float] | None = None,
                 n_estimators: int = 300, early_stopping_rounds: int | None = DEFAULT_EARLY_STOPPING_ROUNDS,
                 max_candidates: int | None = DEFAULT_MAX_CANDIDATES,
                 als_refresh_iterations: int | None = DEFAULT_ALS_REFRESH_ITERATIONS, learning_rate: float = 0.05,
                 num_leaves: int = 31,
                 min_child_samples: int = 50, n_jobs: int = 1, random_state: int = 0):
        self.horizon_days = horizon_days
        self.training_windows = training_windows
        self.max_customers_per_window = max_customers_per_window
        self.per_source = per_source
        self.recency_half_life_days = recency_half_life_days
        self.segment_columns = segment_columns
        self.event_weights = event_weights
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.max_candidates = max_candidates
        self.als_refresh_iterations = als_refresh_iterations
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _generator(self) -> CandidateGenerator:
        return CandidateGenerator(self.per_source, recency_half_life_days=self.recency_half_life_days,
                                  event_weights=self.event_weights, random_state=self.random_state,
                                  num_threads=self.n_jobs,
                                  # models pickled before the setting existed refresh as new ones do
                                  als_refresh_iterations=getattr(self, "als_refresh_iterations",
                                                                 DEFAULT_ALS_REFRESH_ITERATIONS))

    def _training_frame(self, interactions, products, customer_features, cutoff, rng) -> pd.DataFrame | None:
        """Labelled candidates of one past window, or None when it has no usable query."""
        history = interactions[interactions["interacted_at"] < cutoff]
        window_end = cutoff + pd.Timedelta(days=self.horizon_days)
        bought = interactions[(interactions["interaction_type"] == "purchase") & (interactions["interacted_at"] >= cutoff)
                              & (interactions["interacted_at"] < window_end)]
        if history.empty or bought.empty:
            return None
        known = set(history["customer_id"].astype(str))
        buyers = sorted(set(bought["customer_id"].astype(str)) & known)
        if not buyers:
            return None
        if len(buyers) > self.max_customers_per_window:
            buyers = sorted(rng.choice(buyers, size=self.max_customers_per_window, replace=False).tolist())
        generator = self._generator().fit(history, products=products, as_of=cutoff)
        candidates = cap_candidates(generator.generate(buyers), self.max_candidates)
        truth = set(zip(bought["customer_id"].astype(str), bought["product_id"].astype(str)))
        candidates["label"] = [pair in truth for pair in zip(candidates["customer_id"], candidates["product_id"])]
        # a query without a positive carries no lambdarank gradient
        positive = candidates.groupby("customer_id")["label"].transform("any")
        candidates = candidates[positive]
        if candidates.empty:
            return None
        features = candidate_features(candidates, history, products=products, customer_features=customer_features,
                                      as_of=cutoff)
        return features.assign(label=features["label"].astype(int), _window=str(cutoff.date()))

    def fit(self, interactions: pd.DataFrame, *, products: pd.DataFrame | None = None,
            customers: pd.DataFrame | None = None, customer_features: pd.DataFrame | None = None,
            as_of=None) -> "TwoStageRecommender":
        """Train the ranker on past windows before `as_of`, then fit the candidate sources on all interactions."""
        for name in ("horizon_days", "training_windows", "max_customers_per_window", "n_estimators", "num_leaves",
                     "min_child_samples", "n_jobs"):
            _check_positive_int(getattr(self, name), name)
        for name in ("early_stopping_rounds", "max_candidates", "als_refresh_iterations"):
            if getattr(self, name) is not None:
                _check_positive_int(getattr(self, name), name)
        interactions = interactions.dropna(subset=["customer_id", "product_id"])
        interactions = interactions.assign(customer_id=interactions["customer_id"].astype(str),
                                           product_id=interactions["product_id"].astype(str))
        if "weight" not in interactions.columns or self.event_weights is not None:
            interactions = with_weights(interactions, self.event_weights)
        if as_of is None:
            as_of = interactions["interacted_at"].max() + pd.Timedelta(microseconds=1)
        self.as_of_ = pd.Timestamp(as_of)
        self.trained_as_of_ = self.as_of_
        if (interactions["interacted_at"] >= self.as_of_).any():
            raise ValueError(f"interactions must all be before as_of ({self.as_of_}); cut them at the cutoff first")
        self.notes_: list[str] = []
        self.products_ = products
        self.customer_features_ = customer_features
        rng = np.random.default_rng(self.random_state)

        started = time.perf_counter()
        frames = []
        for j in range(1, self.training_windows + 1):
            cutoff = self.as_of_ - pd.Timedelta(days=j * self.horizon_days)
            frame = self._training_frame(interactions, products, customer_features, cutoff, rng)
            if frame is None:
                self.notes_.append(f"training window from {cutoff.date()}: no buyer with history, skipped")
            else:
                frames.append(frame)
        self.training_seconds_ = {"candidates_and_features": time.perf_counter() - started}
        self.ranker_ = None
        self.best_iteration_ = None
        if frames:
            training = pd.concat(frames, ignore_index=True).sort_values(["_window", "customer_id"], kind="stable")
            self.feature_columns_ = feature_columns(training.drop(columns=["_window"]))
            groups = training.groupby(["_window", "customer_id"], sort=False).size().to_numpy()
            self.training_rows_ = len(training)
            self.training_queries_ = len(groups)
            self.training_positive_rate_ = float(training["label"].mean())
            if training["label"].nunique() < 2:
                self.notes_.append("every training candidate was bought: nothing to rank, falling back to source ranks")
            else:
                started = time.perf_counter()
                self.best_iteration_ = self._early_stopped_trees(training)
                if self.best_iteration_ is not None:
                    self.training_seconds_["early_stopping"] = time.perf_counter() - started
                    started = time.perf_counter()
                trees = self.best_iteration_ or self.n_estimators
                self.ranker_ = self._ranker(trees)
                self.ranker_.fit(training[self.feature_columns_].astype(float), training["label"], group=groups)
                self.training_seconds_["ranker"] = time.perf_counter() - started
        else:
            self.notes_.append("no training window had buyers with history: ranking by source ranks (reciprocal rank fusion)")

        self._fit_serving(interactions, products, customers)
        return self

    def _ranker(self, n_estimators: int):
        from lightgbm import LGBMRanker

        return LGBMRanker(
            objective="lambdarank", n_estimators=n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples, subsample=0.8,
            subsample_freq=1, colsample_bytree=0.8, lambdarank_truncation_level=20,
            random_state=self.random_state, n_jobs=self.n_jobs, verbose=-1,
        )

    def _early_stopped_trees(self, training: pd.DataFrame) -> int | None:
        """The number of trees (at most n_estimators) with the best NDCG@10 on the latest training window when
        trained on the earlier ones; None without early stopping or without two windows."""
        import lightgbm

        windows = sorted(training["_window"].unique())
        if self.early_stopping_rounds is None or len(windows) < 2:
            return None
        validation = training["_window"] == windows[-1]
        fitting, held_out = training[~validation], training[validation]
        if fitting["label"].nunique() < 2:
            return None
        ranker = self._ranker(self.n_estimators)
        ranker.fit(
            fitting[self.feature_columns_].astype(float), fitting["label"],
            group=fitting.groupby(["_window", "customer_id"], sort=False).size().to_numpy(),
            eval_X=(held_out[self.feature_columns_].astype(float),), eval_y=(held_out["label"],),
            eval_group=[held_out.groupby(["_window", "customer_id"], sort=False).size().to_numpy()],
            eval_at=[10], callbacks=[lightgbm.early_stopping(self.early_stopping_rounds, first_metric_only=True,
                                                             verbose=False)],
        )
        self.validation_ndcg_ = float(ranker.best_score_["valid_0"]["ndcg@10"])
        return int(ranker.best_iteration_) or self.n_estimators

    def _fit_serving(self, interactions: pd.DataFrame, products, customers, previous=None) -> None:
        started = time.perf_counter()
        prepared = prepare_interactions(interactions, products=products, as_of=self.as_of_)
        self.generator_ = self._generator().fit_prepared(prepared, products=products, previous=previous)
        segmentable = customers is not None and all(column in customers.columns for column in self.segment_columns)
        if not segmentable:
            self.notes_.append(f"customers lack {list(self.segment_columns)}: customers without history get global popularity")
        self.cold_start_ = SegmentPopularity(segment_columns=self.segment_columns).fit_prepared(
            prepared, products=products, customers=customers if segmentable else None)
        self.training_seconds_["serving_sources"] = time.perf_counter() - started
        self.interactions_ = interactions

    def refresh(self, interactions: pd.DataFrame, *, products: pd.DataFrame | None = None,
                customers: pd.DataFrame | None = None, customer_features: pd.DataFrame | None = None,
                as_of=None, n_jobs: int | None = None) -> "TwoStageRecommender":
        """Refit the candidate sources and the cold-start popularity on newer interactions, keeping the trained
        ranker: daily scoring sees yesterday's purchases without retraining. `as_of` must not be before the
        training as_of (the ranker would then have learnt from windows after it). `n_jobs` sets the threads
        iALS refits with (and keeps for later refreshes), e.g. the scoring machine's cores."""
        if not hasattr(self, "generator_"):
            raise ValueError("TwoStageRecommender is not fitted; call fit first")
        if n_jobs is not None:
            _check_positive_int(n_jobs, "n_jobs")
            self.n_jobs = n_jobs
        interactions = interactions.dropna(subset=["customer_id", "product_id"])
        interactions = interactions.assign(customer_id=interactions["customer_id"].astype(str),
                                           product_id=interactions["product_id"].astype(str))
        if "weight" not in interactions.columns or self.event_weights is not None:
            interactions = with_weights(interactions, self.event_weights)
        as_of = pd.Timestamp(as_of) if as_of is not None else interactions["interacted_at"].max() + pd.Timedelta(microseconds=1)
        if as_of < self.trained_as_of_:
            raise ValueError(f"as_of {as_of} is before the ranker's training as_of {self.trained_as_of_}")
        if (interactions["interacted_at"] >= as_of).any():
            raise ValueError(f"interactions must all be before as_of ({as_of}); cut them at the cutoff first")
        self.as_of_ = as_of
        self.products_ = products if products is not None else self.products_
        self.customer_features_ = customer_features if customer_features is not None else self.customer_features_
        self._fit_serving(interactions, self.products_, customers, previous=self.generator_)
        return self

    def similar_products(self, k: int = 10) -> pd.DataFrame:
        """Products bought with each product (item-kNN cosine on the customer x product matrix), for product
        pages: product_id, rank 1..k, similar_product_id, score. Inactive products are never listed."""
        _check_positive_int(k, "k")
        knn = self.generator_.sources_.get("item_knn")
        if knn is None:
            return pd.DataFrame(columns=["product_id", "rank", "similar_product_id", "score"])
        similarity = knn.similarity_.tocoo()
        items = np.asarray(knn.item_index_)
        active = np.asarray(knn.active_)
        frame = pd.DataFrame({"row": similarity.row, "col": similarity.col, "score": similarity.data})
        frame = frame[(frame["row"] != frame["col"]) & active[frame["col"].to_numpy()] & (frame["score"] > 0)]
        frame = frame.sort_values(["row", "score", "col"], ascending=[True, False, True], kind="stable")
        frame = frame.groupby("row", sort=False).head(k)
        frame["rank"] = frame.groupby("row", sort=False).cumcount() + 1
        return pd.DataFrame({
            "product_id": items[frame["row"].to_numpy()], "rank": frame["rank"].to_numpy(dtype="int64"),
            "similar_product_id": items[frame["col"].to_numpy()], "score": frame["score"].to_numpy(dtype=float),
        })

    def _rank(self, features: pd.DataFrame) -> np.ndarray:
        if self.ranker_ is not None:
            # LightGBM reads a row-major float matrix: filled here a block of rows at a time from the columns,
            # instead of pandas interleaving the frame's many blocks into one copy of every row (the
            # predictions are the same, each row's alone; memory stays at one block)
            columns = [features[column].to_numpy(dtype=float) for column in self.feature_columns_]
            score = np.empty(len(features))
            block = np.empty((min(RANKER_ROWS_PER_BLOCK, len(features)), len(columns)))
            for start in range(0, len(features), RANKER_ROWS_PER_BLOCK):
                rows = min(RANKER_ROWS_PER_BLOCK, len(features) - start)
                for number, values in enumerate(columns):
                    block[:rows, number] = values[start:start + rows]
                score[start:start + rows] = self.ranker_.predict(
                    pd.DataFrame(block[:rows], columns=self.feature_columns_, copy=False))
            return score
        ranks = features[[f"{source}_rank" for source in SOURCES]].to_numpy(dtype=float)
        return np.nansum(1.0 / ranks, axis=1)

    def recommend(self, customer_ids, k: int = 10, *, exclude: pd.DataFrame | None = None,
                  batch_size: int = DEFAULT_BATCH_SIZE, n_jobs: int = 1) -> pd.DataFrame:
        """Top-k per customer with customer_id, rank, product_id, score and reason.

        Customers are scored `batch_size` at a time, so memory stays at one batch's candidates and features
        whatever the number of customers. With `n_jobs` > 1 the batches are scored by that many forked worker
        processes, each taking batch_size / n_jobs customers at a time, which share the fitted model with this
        one (copy-on-write) instead of loading a copy each;
        where fork is unavailable (Windows) they run here one after the other. The result depends on neither
        the batch size nor n_jobs."""
        _check_positive_int(k, "k")
        _check_positive_int(batch_size, "batch_size")
        _check_positive_int(n_jobs, "n_jobs")
        if not hasattr(self, "generator_"):
            raise ValueError("TwoStageRecommender is not fitted; call fit first")
        ids = list(dict.fromkeys(str(c) for c in customer_ids))
        batches = self._score_batches(ids, k, exclude, batch_size, n_jobs)
        listed = pd.concat(batches, ignore_index=True) if batches else pd.DataFrame(
            {"customer_id": [], "product_id": [], "score": [], "reason": [], "_fill_rank": []})
        # a filled product scores below every ranked one of the whole call, in its popularity order
        ranked = listed["_fill_rank"].isna().to_numpy()
        floor = float(listed.loc[ranked, "score"].min()) if ranked.any() else 0.0
        fill_scores = floor - 1.0 - listed["_fill_rank"].to_numpy(dtype=float)
        listed["score"] = np.where(ranked, listed["score"].to_numpy(dtype=float), fill_scores)
        listed["rank"] = listed.groupby("customer_id", sort=False).cumcount() + 1
        # one dtype whatever a batch held (a batch of unknown customers alone builds object columns)
        return listed[["customer_id", "rank", "product_id", "score", "reason"]].reset_index(drop=True).astype(
            {"customer_id": "str", "rank": "int64", "product_id": "str", "score": "float64", "reason": "str"})

    def _score_batches(self, ids: list[str], k: int, exclude, batch_size: int, n_jobs: int) -> list[pd.DataFrame]:
        shared: dict = {}  # what every batch reuses (feature context, similarity lookups), built on first need
        workers = min(n_jobs, -(-len(ids) // batch_size)) if "fork" in multiprocessing.get_all_start_methods() else 1
        if workers < 2:
            return [self._recommend_batch(ids[start:start + batch_size], k, exclude, shared)
                    for start in range(0, len(ids), batch_size)]
        # the workers' batches together hold batch_size customers, so memory does not grow with n_jobs
        batch_size = max(1, batch_size // workers)
        starts = range(0, len(ids), batch_size)
        # built once here, before the fork, so that the workers inherit them instead of each building its own
        self._warm_shared(shared)
        global _FORKED_SCORING
        _FORKED_SCORING = (self, ids, k, exclude, batch_size, shared)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                # one batch per task, results in batch order whichever worker finishes first
                return pool.map(_forked_batch, starts, chunksize=1)
        finally:
            _FORKED_SCORING = None

    def _warm_shared(self, shared: dict) -> None:
        self._feature_context(shared)
        self._shared_names(shared)
        knn = self.generator_.sources_.get("item_knn")
        if knn is not None:
            self._knn_lookup(shared, knn)

    # what every batch of a call reuses, built on first need (or by _warm_shared before forking)
    def _feature_context(self, shared: dict) -> FeatureContext:
        if "features" not in shared:
            shared["features"] = FeatureContext(self.interactions_, products=self.products_,
                                                customer_features=self.customer_features_, as_of=self.as_of_)
        return shared["features"]

    def _shared_names(self, shared: dict) -> dict:
        if "names" not in shared:
            names = self._product_names()
            shared["names"] = dict(zip(names.index, names.to_numpy()))
        return shared["names"]

    @staticmethod
    def _knn_lookup(shared: dict, knn: ItemKNN) -> "_SimilarityLookup":
        if "knn_lookup" not in shared:
            shared["knn_lookup"] = _SimilarityLookup(knn.similarity_)
        return shared["knn_lookup"]

    def _recommend_batch(self, ids: list[str], k: int, exclude: pd.DataFrame | None, shared: dict) -> pd.DataFrame:
        """Top-k of one batch in customer order; products filled from popularity carry their popularity rank in
        `_fill_rank` (their score is set once the whole call's lowest ranked score is known)."""
        if exclude is not None and len(exclude):
            exclude = exclude[exclude["customer_id"].astype(str).isin(set(ids))]
        known_index = self.generator_.customer_index_
        known = [c for c in ids if c in known_index]
        frames = []
        if known:
            merged, codes = self.generator_._generate_coded(known, exclude=exclude)
            # models pickled before max_candidates existed were trained on every candidate
            candidates = cap_candidates(merged, getattr(self, "max_candidates", None))
            if candidates is not merged:
                codes = None  # capped: the rows' codes no longer match
            features = self._feature_context(shared).features(candidates, codes=codes)
            score = self._rank(features)
            # each customer's k best by score (ties: candidate order), sorted on integer codes, not id strings
            customer = pd.factorize(features["customer_id"] if codes is None else codes[0])[0]
            # first_k orders by customer, score descending, then row (the candidate order); rows come grouped
            # by customer, so each customer's rows are sorted on their own
            _, best, _ = first_k(customer, np.arange(len(score)), score, k)
            kept = ["customer_id", "product_id", "item_category"] + [f"{source}_rank" for source in SOURCES]
            top = features[kept].iloc[best].assign(score=score[best])
            top["reason"] = self._reasons(top, shared)
            frames.append(top[["customer_id", "product_id", "score", "reason"]].assign(_fill_rank=np.nan))
        listed = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["customer_id", "product_id", "score", "reason", "_fill_rank"])
        # customers without history, or with fewer than k candidates, are filled with segment popularity
        counts = listed.groupby("customer_id").size()
        counts = dict(zip(counts.index.tolist(), counts.tolist()))  # a dict: one Series.get per customer is slow
        short = [c for c in ids if counts.get(c, 0) < k]
        if short:
            fill = self.cold_start_.recommend(short, k=k, exclude=exclude)
            fill = fill.merge(listed[["customer_id", "product_id"]], how="left", indicator=True)
            fill = fill[fill["_merge"] == "left_only"].drop(columns="_merge")
            segments = dict(zip(short, self.cold_start_.segment_label(short)))
            fill = fill.assign(
                score=np.nan, _fill_rank=fill["rank"].to_numpy(dtype=float),
                reason=[f"popular in {segments[c]}" if segments.get(c) else "popular" for c in fill["customer_id"]],
            )
            listed = pd.concat([listed, fill[["customer_id", "product_id", "score", "reason", "_fill_rank"]]], ignore_index=True)
        # ranked products first by score, then filled ones by popularity rank; customers in the order of ids
        order = pd.Index(ids, dtype=object).get_indexer(listed["customer_id"].to_numpy(dtype=object))
        listed = listed.assign(_order=order, _filled=listed["_fill_rank"].notna())
        listed = listed.sort_values(["_order", "_filled", "score", "_fill_rank"], ascending=[True, True, False, True],
                                    kind="stable")
        return listed.groupby("customer_id", sort=False).head(k).drop(columns=["_order", "_filled"])

    def _product_names(self) -> pd.Series:
        if self.products_ is None:
            return pd.Series(dtype=object)
        catalogue = self.products_.assign(product_id=self.products_["product_id"].astype(str)).drop_duplicates("product_id")
        names = catalogue["product_name"] if "product_name" in catalogue.columns else pd.Series(index=catalogue.index, dtype=object)
        return pd.Series(names.fillna(catalogue["product_id"]).to_numpy(), index=catalogue["product_id"].to_numpy())

    def _reasons(self, top: pd.DataFrame, shared: dict | None = None) -> list[str]:
        """The reason of each row from the source that ranked it best (ties: SOURCES order)."""
        shared = {} if shared is None else shared
        ranks = top[[f"{source}_rank" for source in SOURCES]].to_numpy(dtype=float)
        strongest = np.array(SOURCES, dtype=object)[np.argmin(np.where(np.isnan(ranks), np.inf, ranks), axis=1)]
        names = self._shared_names(shared)
        reasons = np.array([REASON_TEXT.get(source, "") for source in strongest], dtype=object)
        customers, products = top["customer_id"].to_numpy(dtype=object), top["product_id"].to_numpy(dtype=object)
        category = strongest == "category"
        if category.any():
            # a catalogue without categories files everything under "unknown": then it is plain popularity
            reasons[category] = [f"popular in {c}" if isinstance(c, str) and c != "unknown" else "popular"
                                 for c in top["item_category"].to_numpy(dtype=object)[category]]
        knn = self.generator_.sources_.get("item_knn")
        by_knn = strongest == "item_knn"
        if by_knn.any() and knn is not None:
            anchors = _knn_anchors(knn, self._knn_lookup(shared, knn), customers[by_knn], products[by_knn])
            reasons[by_knn] = [f"often bought with {names.get(a, a)}" if a else "often bought together" for a in anchors]
        new = strongest == "new_product"
        if new.any():
            anchors = self.generator_.sources_["new_product"].anchors(
                pd.DataFrame({"customer_id": customers[new], "product_id": products[new]}))
            reasons[new] = [f"new, similar to {names.get(a, a)}" if a else "new in your categories" for a in anchors]
        return reasons.tolist()


#: (model, ids, k, exclude, batch_size, shared) of the recommend call being scored by forked workers: a fork
#: copies it into every worker, so the model is never pickled.
_FORKED_SCORING = None


def _forked_batch(start: int) -> pd.DataFrame:
    model, ids, k, exclude, batch_size, shared = _FORKED_SCORING
    # the workers share the cores: one thread each for LightGBM and iALS's top-k (this process's copy only)
    if model.ranker_ is not None:
        model.ranker_.set_params(n_jobs=1)
    for source in model.generator_.sources_.values():
        if hasattr(source, "num_threads"):
            source.num_threads = 1
    return model._recommend_batch(ids[start:start + batch_size], k, exclude, shared)


class _SimilarityLookup:
    """Values of a sparse item x item matrix at many (row, column) pairs at once."""

    def __init__(self, matrix: sparse.spmatrix):
        coo = sparse.coo_matrix(matrix)
        self.width = matrix.shape[1]
        keys = coo.row.astype(np.int64) * self.width + coo.col
        order = np.argsort(keys, kind="stable")
        self.keys, self.values = keys[order], coo.data[order]

    def __call__(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        keys = rows.astype(np.int64) * self.width + columns
        found = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        hit = (self.keys[found] == keys) if len(self.keys) else np.zeros(len(keys), dtype=bool)
        return np.where(hit, self.values[found] if len(self.keys) else 0.0, 0.0)


def _knn_anchors(knn: ItemKNN, lookup: _SimilarityLookup, customers: np.ndarray, products: np.ndarray) -> list[str | None]:
    """For each (customer, product), the customer's product contributing most to the item-kNN score of the
    product (the first of equal contributions in catalogue-matrix order); None without a positive one."""
    rows = knn.customer_index_.get_indexer(pd.Index(customers, dtype=object))
    items = knn.item_index_.get_indexer(pd.Index(products, dtype=object))
    usable = (rows >= 0) & (items >= 0)
    matrix = knn.user_items_
    lengths = np.where(usable, matrix.indptr[np.maximum(rows, 0) + 1] - matrix.indptr[np.maximum(rows, 0)], 0)
    anchors: list[str | None] = [None] * len(customers)
    if not lengths.sum():
        return anchors
    pair = np.repeat(np.arange(len(customers)), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    entry = matrix.indptr[rows[pair]] + np.arange(len(pair)) - starts[pair]
    history_item = matrix.indices[entry]
    contribution = matrix.data[entry] * lookup(history_item, items[pair])
    has = np.flatnonzero(lengths > 0)
    best_value = np.maximum.reduceat(contribution, starts[has])
    is_best = contribution == np.repeat(best_value, lengths[has])
    first_best = np.minimum.reduceat(np.where(is_best, np.arange(len(pair)), len(pair)), starts[has])
    names = knn.item_index_.to_numpy()
    for number, value, position in zip(has, best_value, first_best):
        if value > 0:
            anchors[number] = names[history_item[position]]
    return anchors
