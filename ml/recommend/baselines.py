"""Baseline recommenders with one interface: `fit(interactions, ...)` then `recommend(customer_ids, k)`.

- PopularityRecommender: the products most customers bought (optionally in the last `window_days`).
- PersonalTopFrequency (P-TopFreq): the customer's own most often bought products, optionally decayed by age.
- GPTopFrequency (GP-TopFreq): P-TopFreq, the rest of the list filled with popularity.
- ItemKNN: cosine item-item similarity on the customer x product matrix, top `neighbours` per product.
- ImplicitALS: iALS matrix factorisation of the weighted matrix (the `implicit` library).
- CategoryAffinityPopularity: popular products of the categories the customer engages with.

Every recommender scores the products it has evidence for; products without evidence (score -inf) are never
listed, so a list can be shorter than k. Inactive products (dim_products.is_active false) are never listed.
Equal scores are listed in catalogue order, so lists are reproducible.

Recommenders whose evidence is sparse (all but GP-TopFreq) build their lists from candidate entries (`_entries`:
the customer's own products, kNN neighbours, each category's or segment's best, iALS's top-k from implicit)
instead of scoring the whole catalogue per customer: the same lists, at a cost that does not grow with the
catalogue. A test checks them against the dense path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ml.recommend.data import DEFAULT_EVENT_WEIGHTS, inactive_products, with_weights

__all__ = [
    "BaseRecommender",
    "PopularityRecommender",
    "PersonalTopFrequency",
    "GPTopFrequency",
    "ItemKNN",
    "ImplicitALS",
    "CategoryAffinityPopularity",
    "PreparedInteractions",
    "prepare_interactions",
    "RECOMMENDATION_COLUMNS",
]

RECOMMENDATION_COLUMNS = ("customer_id", "rank", "product_id", "score")
REQUIRED_COLUMNS = ("customer_id", "product_id", "interaction_type", "interacted_at")
#: Rows of dense scores computed at once: bounds memory at batch x catalogue floats.
SCORE_CELLS_PER_BATCH = 8_000_000
#: Customers whose sparse candidate lists are built at once (recommenders with `_entries`).
SPARSE_CUSTOMERS_PER_BATCH = 4096


def _check_positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _check_optional_positive(value, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
        raise ValueError(f"{name} must be a number > 0 or None, got {value!r}")


class BaseRecommender:
    """Shared fit/recommend plumbing: product and customer vocabularies, inactive and excluded products, top-k.

    Subclasses implement `_fit(interactions)` and `_score(rows)`, which returns a dense float array of shape
    (len(rows), n_products) for known customers' row numbers, -inf where the model has no evidence.
    """

    def fit(
        self,
        interactions: pd.DataFrame,
        *,
        products: pd.DataFrame | None = None,
        customers: pd.DataFrame | None = None,
        customer_features: pd.DataFrame | None = None,
        as_of=None,
    ) -> "BaseRecommender":
        """Learn from `interactions` (customer_id, product_id, interaction_type, interacted_at[, rating]).

        Parameters
        ----------
        interactions : DataFrame
            Past interactions only; the caller cuts them at `as_of`.
        products : DataFrame, optional
            marts.dim_products: its active products join the catalogue, inactive ones are never recommended.
        customers : DataFrame, optional
            marts.dim_customers, for recommenders that segment customers.
        customer_features : DataFrame, optional
            marts.customer_features_snapshot rows dated on or before as_of, for recommenders that use them.
        as_of : timestamp, optional
            "Now" for recency and trends; defaults to just after the latest interaction.
        """
        prepared = prepare_interactions(interactions, products=products, as_of=as_of)
        return self.fit_prepared(prepared, products=products, customers=customers, customer_features=customer_features)

    def fit_prepared(self, prepared: "PreparedInteractions", *, products: pd.DataFrame | None = None,
                     customers: pd.DataFrame | None = None,
                     customer_features: pd.DataFrame | None = None) -> "BaseRecommender":
        """fit on interactions already checked and coded by prepare_interactions (with the same `products`):
        several recommenders fitted on the same data share that work."""
        self.as_of_ = prepared.as_of
        self.item_index_ = prepared.item_index
        self.customer_index_ = prepared.customer_index
        self.active_ = prepared.active
        self.products_ = products
        self.customers_ = customers
        self.customer_features_ = customer_features
        self._fit(prepared.frame)
        return self

    def _fit(self, interactions: pd.DataFrame) -> None:
        raise NotImplementedError

    def _score(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score_unknown(self, customer_ids: list[str]) -> np.ndarray:
        """Scores for customers absent from training: no evidence, unless a subclass knows better."""
        return np.full((len(customer_ids), len(self.item_index_)), -np.inf)

    def _matrix(self, interactions: pd.DataFrame, values: np.ndarray) -> sparse.csr_matrix:
        matrix = sparse.csr_matrix(
            (values, (interactions["_customer"].to_numpy(), interactions["_item"].to_numpy())),
            shape=(len(self.customer_index_), len(self.item_index_)),
        )
        matrix.sum_duplicates()
        return matrix

    def score_frame(self, customer_ids: Iterable) -> tuple[list[str], np.ndarray]:
        """(customer ids as strings, their raw scores over `item_index_`), for small audiences and tests."""
        ids = [str(c) for c in customer_ids]
        return ids, self._scores_for(ids)

    def _scores_for(self, ids: list[str]) -> np.ndarray:
        rows = self.customer_index_.get_indexer(ids)
        scores = np.empty((len(ids), len(self.item_index_)))
        known = rows >= 0
        if known.any():
            scores[known] = self._score(rows[known])
        if (~known).any():
            scores[~known] = self._score_unknown([i for i, k in zip(ids, known) if not k])
        return scores

    #: True when `_entries` lists each customer's candidates sparsely instead of scoring the whole catalogue.
    _SPARSE = False

    def _entries(self, ids: list[str], rows: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position in `ids`, item, score) of candidates holding every customer's `limit` best active products
        (equal scores: lower catalogue position first); rows are training row numbers, -1 for unknown customers.
        Sparse recommenders implement it (and set _SPARSE) so a list never costs a pass over the catalogue."""
        raise NotImplementedError

    def recommend(self, customer_ids: Iterable, k: int = 10, *, exclude: pd.DataFrame | None = None) -> pd.DataFrame:
        """Top-k products per customer, best first (equal scores: lower catalogue position first).

        Parameters
        ----------
        customer_ids : iterable
            Customers to recommend for; unknown customers get what the model can offer them (often nothing).
        k : int, default=10
        exclude : DataFrame, optional
            (customer_id, product_id) pairs never to recommend, e.g. recently bought non-repeatable products.

        Returns
        -------
        DataFrame with columns customer_id, rank (1..), product_id, score; at most k rows per customer.
        """
        _check_positive_int(k, "k")
        if not hasattr(self, "item_index_"):
            raise ValueError(f"{type(self).__name__} is not fitted; call fit first")
        ids = list(dict.fromkeys(str(c) for c in customer_ids))
        return self._frame(ids, *self.top_entries(ids, k, exclude=exclude))

    def top_entries(self, ids: list[str], k: int, *, exclude: pd.DataFrame | None = None):
        """recommend's lists as arrays: (position in `ids`, item number in item_index_, score), sorted by
        position then rank. `ids` must be distinct strings."""
        n_items = len(self.item_index_)
        k_eff = min(k, n_items)
        excluded, most_excluded = self._excluded_keys(ids, exclude)
        rows = self.customer_index_.get_indexer(ids)
        positions, items, scores = [], [], []
        if self._SPARSE:
            limit = k_eff + most_excluded  # the k best left after exclusions lie within each list's k + excluded best
            for start in range(0, len(ids), SPARSE_CUSTOMERS_PER_BATCH):
                chunk = slice(start, start + SPARSE_CUSTOMERS_PER_BATCH)
                position, item, score = self._entries(ids[chunk], rows[chunk], limit)
                keep = np.isfinite(score) & self.active_[item]
                position, item, score = position[keep] + start, item[keep], score[keep]
                if len(excluded):
                    allowed = ~np.isin(position * n_items + item, excluded)
                    position, item, score = position[allowed], item[allowed], score[allowed]
                position, item, score = first_k(position, item, score, k_eff)
                positions.append(position), items.append(item), scores.append(score)
        else:
            batch = max(1, SCORE_CELLS_PER_BATCH // max(n_items, 1))
            for start in range(0, len(ids), batch):
                chunk = ids[start:start + batch]
                dense = self._scores_for(chunk)
                dense[:, ~self.active_] = -np.inf
                if len(excluded):
                    local = excluded[(excluded >= start * n_items) & (excluded < (start + len(chunk)) * n_items)] - start * n_items
                    dense[local // n_items, local % n_items] = -np.inf
                position, item, score = dense_top_k(dense, k_eff)
                positions.append(position + start), items.append(item), scores.append(score)
        if not positions:
            return np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([], dtype=float)
        return np.concatenate(positions), np.concatenate(items), np.concatenate(scores)

    def _frame(self, ids: list[str], position: np.ndarray, item: np.ndarray, score: np.ndarray) -> pd.DataFrame:
        """The recommendation frame of entries already in (position, rank) order."""
        return pd.DataFrame({
            "customer_id": np.asarray(ids, dtype=object)[position] if len(position) else pd.Series(dtype=object),
            "rank": _ranks(position),
            "product_id": self.item_index_.to_numpy()[item] if len(item) else pd.Series(dtype=object),
            "score": score.astype("float64"),
        }).astype({"rank": "int64", "score": "float64"})

    def _excluded_keys(self, ids: list[str], exclude: pd.DataFrame | None) -> tuple[np.ndarray, int]:
        """(sorted position x n_items + item keys of the excluded pairs of `ids`, most pairs of one customer)."""
        if exclude is None or not len(exclude):
            return np.array([], dtype=np.int64), 0
        position = pd.Index(ids, dtype=object).get_indexer(exclude["customer_id"].astype(str))
        item = self.item_index_.get_indexer(exclude["product_id"].astype(str))
        known = (position >= 0) & (item >= 0)
        keys = np.unique(position[known].astype(np.int64) * len(self.item_index_) + item[known])
        most = int(np.bincount(keys // len(self.item_index_)).max()) if len(keys) else 0
        return keys, most


@dataclass(frozen=True)
class PreparedInteractions:
    """Interactions checked and coded once for any number of recommenders (prepare_interactions)."""

    frame: pd.DataFrame  # string ids plus _customer / _item row and column numbers
    item_index: pd.Index  # products seen in interactions, then the rest of the catalogue
    customer_index: pd.Index
    active: np.ndarray  # per item: may be recommended
    as_of: pd.Timestamp


def prepare_interactions(interactions: pd.DataFrame, *, products: pd.DataFrame | None = None,
                         as_of=None) -> PreparedInteractions:
    """Check `interactions` (see BaseRecommender.fit) and number their customers and products."""
    if not isinstance(interactions, pd.DataFrame):
        raise TypeError(f"interactions must be a pandas DataFrame, got {type(interactions).__name__}")
    missing = [column for column in REQUIRED_COLUMNS if column not in interactions.columns]
    if missing:
        raise ValueError(f"interactions must have columns {list(REQUIRED_COLUMNS)}; missing {missing}")
    interactions = interactions.dropna(subset=["customer_id", "product_id"])
    if as_of is None:
        latest = interactions["interacted_at"].max()
        as_of = (latest + pd.Timedelta(microseconds=1)) if pd.notna(latest) else pd.Timestamp.now()
    as_of = pd.Timestamp(as_of)
    if (interactions["interacted_at"] >= as_of).any():
        raise ValueError(f"interactions must all be before as_of ({as_of}); cut them at the cutoff first")

    customer_ids = interactions["customer_id"].astype(str)
    product_ids = interactions["product_id"].astype(str)
    # factorize numbers each id by first appearance, as unique() lists them, in one pass per column
    customer_codes, customer_names = pd.factorize(customer_ids)
    product_codes, product_names = pd.factorize(product_ids)
    catalogue = pd.Index(product_names, dtype=object)
    if products is not None:
        if "product_id" not in products.columns:
            raise ValueError("products must have a product_id column")
        catalogue = catalogue.union(pd.Index(products["product_id"].astype(str)), sort=False)
    item_index = pd.Index(catalogue, dtype=object)
    inactive = inactive_products(products)
    frame = interactions.assign(customer_id=customer_ids, product_id=product_ids, _customer=customer_codes,
                                _item=product_codes)  # the catalogue starts with the interactions' products
    return PreparedInteractions(frame=frame, item_index=item_index,
                                customer_index=pd.Index(customer_names, dtype=object),
                                active=~item_index.isin(list(inactive)), as_of=as_of)


def _runs(position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal positions in grouped entries."""
    if not len(position):
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, position[1:] != position[:-1]])
    return starts, np.diff(np.r_[starts, len(position)])


def _offsets_in_runs(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """0, 1, ... within each run, for the runs `_runs` found."""
    return np.arange(int(lengths.sum())) - np.repeat(starts, lengths)


def _ranks(position: np.ndarray) -> np.ndarray:
    """1, 2, ... within each run of equal positions (entries sorted by position)."""
    return _offsets_in_runs(*_runs(position)) + 1


def first_k(position: np.ndarray, item: np.ndarray, score: np.ndarray, k: int):
    """Each position's k best entries, sorted by position, score descending, item ascending (scores finite)."""
    if len(position) and len(position) > 2 * k * (int(position.max()) - int(position.min()) + 1):
        # far more entries than k per position: drop those below their position's k-th best before sorting
        # (they cannot be among its k best; ties with the k-th stay, so the result is the same)
        keep = score >= _kth_best(position, score, k)
        position, item, score = position[keep], item[keep], score[keep]
    if len(position) > 1 and _is_grouped(position):
        grouped = _first_k_grouped(position, item, score, k)
        if grouped is not None:
            return grouped
    order = np.lexsort((item, -score, position))
    position, item, score = position[order], item[order], score[order]
    keep = _ranks(position) <= k
    return position[keep], item[keep], score[keep]


def _first_k_grouped(position: np.ndarray, item: np.ndarray, score: np.ndarray, k: int):
    """first_k of entries already grouped by position (sparse rows, per-customer lists): each position's
    entries sorted on their own in one row of a padded 2-D array, much cheaper than sorting all of them by
    position too. The same stable order, so the same result; None when padding would cost more than it saves."""
    starts, counts = _runs(position)
    width = int(counts.max())
    if width * len(starts) > 4 * len(position) + 1024:
        return None
    run = np.repeat(np.arange(len(starts)), counts)
    within = _offsets_in_runs(starts, counts)
    items = np.zeros((len(starts), width), dtype=item.dtype)
    scores = np.zeros((len(starts), width), dtype=score.dtype)
    filled = np.zeros((len(starts), width), dtype=bool)
    items[run, within], scores[run, within], filled[run, within] = item, score, True
    # per row: entries before padding, then score descending, then item ascending
    order = np.lexsort((items, -scores, ~filled), axis=1)[:, :k]
    keep = np.take_along_axis(filled, order, axis=1)
    positions = np.broadcast_to(position[starts][:, None], order.shape)
    return (positions[keep], np.take_along_axis(items, order, axis=1)[keep],
            np.take_along_axis(scores, order, axis=1)[keep])


def _is_grouped(position: np.ndarray) -> bool:
    """Whether the entries come sorted by position (each position's entries together, in increasing order)."""
    return bool((position[1:] >= position[:-1]).all())


def _kth_best(position: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """Per entry, the k-th best score of its position (-inf where the position has k entries or fewer).

    A full sort of every entry (np.lexsort) costs far more than finding each position's k-th value: positions
    with more than k entries are padded into one array per power-of-two length and partitioned (np.partition),
    so later only about k entries per position need sorting."""
    if _is_grouped(position):
        # entries already grouped by position (as sparse rows and per-customer lists come): no sort needed
        starts, counts = _runs(position)
        local = np.repeat(np.arange(len(starts)), counts)
        within = _offsets_in_runs(starts, counts)
        n_positions = len(starts)
    else:
        positions, local = np.unique(position, return_inverse=True)
        n_positions = len(positions)
        counts = np.bincount(local, minlength=n_positions)
        order = np.argsort(local, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        within = np.empty(len(local), dtype=np.int64)
        within[order] = np.arange(len(local)) - np.repeat(starts, counts)
    threshold = np.full(n_positions, -np.inf)
    width = np.where(counts > k, 2 ** np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64), 0)
    for size in np.unique(width[width > 0]):
        members = np.flatnonzero(width == size)
        slot = np.full(n_positions, -1)
        slot[members] = np.arange(len(members))
        chosen = slot[local] >= 0
        padded = np.full((len(members), size), -np.inf)
        padded[slot[local[chosen]], within[chosen]] = score[chosen]
        threshold[members] = -np.partition(-padded, k - 1, axis=1)[:, k - 1]
    return threshold[local]


def dense_top_k(scores: np.ndarray, k: int):
    """(row, column, score) of each row's k best finite scores, by row, score descending, column ascending.

    np.partition finds each row's k-th best value (much faster than argpartition); everything at least as good
    is then ordered exactly, so ties at the k-th place go to the lower column."""
    n_rows, n_columns = scores.shape
    if k < n_columns:
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
        candidate = (scores >= kth[:, None]) & np.isfinite(scores)
    else:
        candidate = np.isfinite(scores)
    row, column = np.nonzero(candidate)
    return first_k(row, column, scores[row, column], k)


def shared_top(row: np.ndarray, active: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(items, scores) of the `limit` best finite, active entries of one score row, best first (ties: lower item)."""
    usable = np.flatnonzero(np.isfinite(row) & active)
    _, item, score = first_k(np.zeros(len(usable), dtype=np.int64), usable, row[usable], limit)
    return item, score


def _tiled(n: int, items: np.ndarray, scores: np.ndarray):
    """The same list for n customers as entries."""
    return np.repeat(np.arange(n), len(items)), np.tile(items, n), np.tile(scores, n)


def _sparse_entries(matrix: sparse.spmatrix, positions: np.ndarray):
    """(position, item, score) of the positive entries of a customers x items matrix whose row i is positions[i]."""
    coo = sparse.coo_matrix(matrix)
    keep = coo.data > 0
    return positions[coo.row[keep]], coo.col[keep].astype(np.int64), coo.data[keep].astype(np.float64)


def _purchases(interactions: pd.DataFrame) -> pd.DataFrame:
    return interactions[interactions["interaction_type"] == "purchase"]


class PopularityRecommender(BaseRecommender):
    """The same list for everyone: products ranked by how many distinct customers bought them.

    Parameters
    ----------
    window_days : float or None, default=None
        Count only purchases in the last `window_days` before as_of ("trending"); None counts all history.
    """

    def __init__(self, window_days: float | None = None):
        self.window_days = window_days

    def _fit(self, interactions: pd.DataFrame) -> None:
        _check_optional_positive(self.window_days, "window_days")
        purchases = _purchases(interactions)
        if self.window_days is not None:
            purchases = purchases[purchases["interacted_at"] >= self.as_of_ - pd.Timedelta(days=self.window_days)]
        buyers = purchases.groupby("_item")["_customer"].nunique()
        self.popularity_ = np.zeros(len(self.item_index_))
        self.popularity_[buyers.index.to_numpy()] = buyers.to_numpy()
        self._row = np.where(self.popularity_ > 0, self.popularity_, -np.inf)

    _SPARSE = True

    def _entries(self, ids, rows, limit):
        return _tiled(len(ids), *shared_top(self._row, self.active_, limit))

    def _score(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self._row, (len(rows), 1))

    def _score_unknown(self, customer_ids: list[str]) -> np.ndarray:
        return np.tile(self._row, (len(customer_ids), 1))


class PersonalTopFrequency(BaseRecommender):
    """P-TopFreq: the customer's own products by purchase frequency (distinct purchase times, so one order's
    repeated lines count once), each purchase weighted 0.5 ** (age_days / recency_half_life_days).

    Parameters
    ----------
    recency_half_life_days : float or None, default=None
        None weighs every purchase 1 (plain frequency). Equal scores are broken by the latest purchase.
    """

    def __init__(self, recency_half_life_days: float | None = None):
        self.recency_half_life_days = recency_half_life_days

    def _fit(self, interactions: pd.DataFrame) -> None:
        _check_optional_positive(self.recency_half_life_days, "recency_half_life_days")
        occasions = _purchases(interactions).drop_duplicates(["_customer", "_item", "interacted_at"])
        age_days = (self.as_of_ - occasions["interacted_at"]).dt.total_seconds().to_numpy() / 86_400
        if self.recency_half_life_days is None:
            weights = np.ones(len(occasions))
        else:
            weights = 0.5 ** (age_days / self.recency_half_life_days)
        # a tie-breaker under any possible weight step: newer purchases add a little more
        span = max(float(age_days.max()) if len(age_days) else 0.0, 1.0) + 1.0
        weights = weights + 1e-6 * (1.0 - age_days / span)
        self.frequency_ = self._matrix(occasions, weights)

    _SPARSE = True

    def _entries(self, ids, rows, limit):
        known = np.flatnonzero(rows >= 0)
        return _sparse_entries(self.frequency_[rows[known]], known)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        dense = self.frequency_[rows].toarray()
        return np.where(dense > 0, dense, -np.inf)


class GPTopFrequency(PersonalTopFrequency):
    """GP-TopFreq: the customer's P-TopFreq products first, then the most popular others; customers unknown to
    training get popularity alone.

    Parameters
    ----------
    recency_half_life_days : float or None, default=None
    popularity_window_days : float or None, default=None
    """

    _SPARSE = False  # the popularity fill scores the whole catalogue

    def __init__(self, recency_half_life_days: float | None = None, popularity_window_days: float | None = None):
        super().__init__(recency_half_life_days=recency_half_life_days)
        self.popularity_window_days = popularity_window_days

    def _fit(self, interactions: pd.DataFrame) -> None:
        super()._fit(interactions)
        popularity = PopularityRecommender(window_days=self.popularity_window_days)
        popularity.as_of_, popularity.item_index_, popularity.customer_index_ = self.as_of_, self.item_index_, self.customer_index_
        popularity._fit(interactions)
        # popularity in [0, 1) stays below every personal score (>= 1 after the shift)
        self._fill = np.where(popularity.popularity_ > 0, popularity.popularity_ / (popularity.popularity_.max(initial=0) + 1), -np.inf)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        personal = super()._score(rows)
        return np.where(np.isfinite(personal), 1.0 + personal, self._fill)

    def _score_unknown(self, customer_ids: list[str]) -> np.ndarray:
        return np.tile(self._fill, (len(customer_ids), 1))


class ItemKNN(BaseRecommender):
    """Item-based nearest neighbours: score(c, p) = sum over the customer's products q of w(c, q) x cos(q, p),
    with cos the cosine between product columns of the customer x product matrix of log1p(summed weights),
    keeping each product's `neighbours` most similar products. A product is not its own neighbour.

    Parameters
    ----------
    neighbours : int, default=100
    event_weights : mapping, optional
        Weight per interaction type (defaults to DEFAULT_EVENT_WEIGHTS).
    """

    def __init__(self, neighbours: int = 100, event_weights: Mapping[str, float] | None = None):
        self.neighbours = neighbours
        self.event_weights = event_weights

    def _fit(self, interactions: pd.DataFrame) -> None:
        _check_positive_int(self.neighbours, "neighbours")
        weighted = with_weights(interactions, self.event_weights or DEFAULT_EVENT_WEIGHTS)
        matrix = self._matrix(weighted, weighted["weight"].to_numpy())
        matrix.data = np.log1p(matrix.data)
        matrix.eliminate_zeros()
        self.user_items_ = matrix.tocsr()
        self.similarity_ = top_neighbour_similarity(matrix, self.neighbours)

    _SPARSE = True

    def _entries(self, ids, rows, limit):
        known = np.flatnonzero(rows >= 0)
        return _sparse_entries(self.user_items_[rows[known]] @ self.similarity_, known)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        dense = (self.user_items_[rows] @ self.similarity_).toarray()
        return np.where(dense > 0, dense, -np.inf)


def top_neighbour_similarity(user_items: sparse.spmatrix, neighbours: int, *, chunk: int = 2000) -> sparse.csr_matrix:
    """Item x item cosine similarity of the columns of `user_items`, keeping per row the `neighbours` largest
    entries and no diagonal; computed in row chunks so memory stays at chunk x n_items."""
    columns = sparse.csc_matrix(user_items, dtype=np.float64)
    norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0))).ravel()
    normalised = columns @ sparse.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))
    item_users = normalised.T.tocsr()
    n_items = item_users.shape[0]
    rows, cols, values = [], [], []
    for start in range(0, n_items, chunk):
        block = (item_users[start:start + chunk] @ normalised).tocsr()
        _zero_diagonal(block, start)
        block.eliminate_zeros()
        for offset in range(block.shape[0]):
            begin, end = block.indptr[offset], block.indptr[offset + 1]
            if begin == end:
                continue
            row_values, row_cols = block.data[begin:end], block.indices[begin:end]
            if end - begin > neighbours:
                keep = np.argpartition(-row_values, neighbours - 1)[:neighbours]
                row_values, row_cols = row_values[keep], row_cols[keep]
            rows.append(np.full(len(row_cols), start + offset))
            cols.append(row_cols)
            values.append(row_values)
    if not rows:
        return sparse.csr_matrix((n_items, n_items))
    return sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items))


def _zero_diagonal(block: sparse.csr_matrix, start: int) -> None:
    """Zero block[i, start + i] in place (the similarity of a product with itself)."""
    for offset in range(block.shape[0]):
        begin, end = block.indptr[offset], block.indptr[offset + 1]
        hit = np.nonzero(block.indices[begin:end] == start + offset)[0]
        if hit.size:
            block.data[begin + hit] = 0.0


class ImplicitALS(BaseRecommender):
    """iALS (Hu, Koren and Volinsky 2008) via `implicit`: factors of the customer x product matrix of
    log1p(summed interaction weights); a customer's score for a product is the dot product of their factors.

    Parameters
    ----------
    factors : int, default=64
    regularization : float, default=0.05
    alpha : float, default=10.0
        Confidence given to observed interactions.
    iterations : int, default=15
    event_weights : mapping, optional
    random_state : int, default=0
    num_threads : int, default=1
    """

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 10.0, iterations: int = 15,
                 event_weights: Mapping[str, float] | None = None, random_state: int = 0, num_threads: int = 1):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.event_weights = event_weights
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: pd.DataFrame) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        _check_positive_int(self.factors, "factors")
        _check_positive_int(self.iterations, "iterations")
        _check_positive_int(self.num_threads, "num_threads")
        for name in ("regularization", "alpha"):
            _check_optional_positive(getattr(self, name), name)
        weighted = with_weights(interactions, self.event_weights or DEFAULT_EVENT_WEIGHTS)
        matrix = self._matrix(weighted, weighted["weight"].to_numpy())
        matrix.data = np.log1p(matrix.data)
        matrix.eliminate_zeros()
        self.user_items_ = matrix.astype(np.float32).tocsr()
        # products nobody interacted with have untrained factors: no evidence
        self._seen = np.asarray((self.user_items_ > 0).sum(axis=0)).ravel() > 0
        if self.user_items_.nnz == 0:  # nothing to factorise: no evidence for anyone
            self.user_factors_ = np.zeros((matrix.shape[0], self.factors))
            self.item_factors_ = np.zeros((matrix.shape[1], self.factors))
            return
        # set by warm_started_fit for this fit only (never pickled with the model)
        previous, iterations = self.__dict__.pop("_warm_start", (None, self.iterations))
        # implicit's own threads do the work; BLAS threads on top oversubscribe the cores (implicit checks at fit)
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                                            iterations=iterations, random_state=self.random_state,
                                            num_threads=self.num_threads)
            if previous is not None:
                # implicit starts from factors already set: known customers and products keep theirs, new
                # ones start as implicit would start them (small uniform values)
                random_state = np.random.default_rng(self.random_state)
                model.user_factors = _carried_factors(previous.user_factors_, previous.customer_index_,
                                                      self.customer_index_, self.factors, random_state)
                model.item_factors = _carried_factors(previous.item_factors_, previous.item_index_,
                                                      self.item_index_, self.factors, random_state)
            model.fit(self.user_items_, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors)
        self.item_factors_ = np.asarray(model.item_factors)

    def warm_started_fit(self, prepared: "PreparedInteractions", previous: "ImplicitALS", iterations: int, *,
                         products: pd.DataFrame | None = None) -> "ImplicitALS":
        """fit_prepared starting from a fitted model's factors (matched by customer and product id) and running
        `iterations` sweeps instead of `self.iterations`: a daily refit on a little more data than yesterday's
        starts near its solution, so a few sweeps do what a cold start needs all of them for."""
        _check_positive_int(iterations, "iterations")
        if getattr(previous, "factors", None) != self.factors or not hasattr(previous, "user_factors_"):
            return self.fit_prepared(prepared, products=products)  # nothing to carry over: a full fit
        self._warm_start = (previous, iterations)
        try:
            return self.fit_prepared(prepared, products=products)
        finally:
            self.__dict__.pop("_warm_start", None)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        scores = _dot(self.user_factors_[rows], self.item_factors_)
        scores[:, ~self._seen] = -np.inf
        return scores

    _SPARSE = True
    #: Extra products asked of the fast float32 top-k, so that rounding cannot push one of the true best out.
    _MARGIN = 4

    def _entries(self, ids, rows, limit):
        """Each customer's best `limit` products: implicit's multithreaded float32 top-k proposes limit + margin,
        their scores are recomputed exactly (float64, one dot product per pair, so a score never depends on
        which customers share the batch) and sorted; a row whose margin is within float32 rounding of its
        limit-th score is scored in full instead."""
        from implicit.cpu.topk import topk

        known = np.flatnonzero(rows >= 0)
        usable = self._seen & self.active_
        if not len(known) or not usable.any():
            return np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([], dtype=float)
        users = self.user_factors_[rows[known]]
        ask = min(limit + self._MARGIN, int(usable.sum()))
        proposed, approximate = topk(np.ascontiguousarray(self.item_factors_, dtype=np.float32),
                                     np.ascontiguousarray(users, dtype=np.float32), ask,
                                     filter_items=np.flatnonzero(~usable).astype(np.int32), num_threads=self.num_threads)
        proposed = proposed.astype(np.int64)
        valid = approximate > np.finfo(np.float32).min
        local = np.repeat(np.arange(len(known)), ask).reshape(len(known), ask)
        # each (customer, product) dot product alone, in float64, so that a score never depends on the batch
        # (and equals what _dot gives for the doubtful rows below)
        exact = np.einsum("ij,ikj->ik", users.astype(np.float64),
                          np.asarray(self.item_factors_, dtype=np.float64)[np.where(valid, proposed, 0)])
        exact[~valid] = -np.inf
        position, item, score = first_k(local[valid], proposed[valid], exact[valid], limit)
        # a product outside the proposals may beat the limit-th only if float32 rounding hid it: check the margin
        if ask < usable.sum():
            bound = 1e-5 * np.linalg.norm(users.astype(np.float64), axis=1) * self._item_norm_max()
            kth = np.full(len(known), np.inf)
            counts = np.bincount(position, minlength=len(known))
            full = counts >= limit
            kth[full] = score[np.searchsorted(position, np.flatnonzero(full)) + limit - 1]
            doubtful = np.flatnonzero(approximate[:, -1].astype(np.float64) >= kth - 2 * bound)
            if len(doubtful):
                dense = _dot(users[doubtful], self.item_factors_)
                dense[:, ~usable] = -np.inf
                d_position, d_item, d_score = dense_top_k(dense, limit)
                keep = ~np.isin(position, doubtful)
                position = np.concatenate([position[keep], doubtful[d_position]])
                item, score = np.concatenate([item[keep], d_item]), np.concatenate([score[keep], d_score])
        return known[position], item, score

    def _item_norm_max(self) -> float:
        return float(np.linalg.norm(np.asarray(self.item_factors_, dtype=np.float64), axis=1).max(initial=0.0))


def _carried_factors(previous: np.ndarray, previous_index: pd.Index, index: pd.Index, factors: int,
                     random_state: np.random.Generator) -> np.ndarray:
    """Factors for `index`: the previous row of every id it had, small random values for new ids."""
    carried = random_state.random((len(index), factors), dtype=np.float32) * 0.01
    rows = previous_index.get_indexer(index)
    known = rows >= 0
    carried[known] = np.asarray(previous, dtype=np.float32)[rows[known]]
    return carried


def _dot(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Every user x item score in float64, each pair summed on its own (einsum), as ImplicitALS._entries does."""
    return np.einsum("ij,kj->ik", np.asarray(users, dtype=np.float64), np.asarray(items, dtype=np.float64))


class CategoryAffinityPopularity(BaseRecommender):
    """Popular products of the customer's categories: score(c, p) = share of the customer's interaction weight
    in p's category x p's distinct buyers / the most bought product's buyers in that category.

    Parameters
    ----------
    event_weights : mapping, optional
    window_days : float or None, default=None
        Popularity over the last `window_days` only; affinity always uses all history.
    """

    def __init__(self, event_weights: Mapping[str, float] | None = None, window_days: float | None = None):
        self.event_weights = event_weights
        self.window_days = window_days

    def _fit(self, interactions: pd.DataFrame) -> None:
        _check_optional_positive(self.window_days, "window_days")
        if self.products_ is None or "category" not in self.products_.columns:
            raise ValueError("CategoryAffinityPopularity needs products with a category column")
        category_of = self.products_.assign(product_id=self.products_["product_id"].astype(str)).set_index("product_id")["category"]
        item_category = category_of.reindex(self.item_index_).fillna("unknown").astype(str)
        self.category_index_ = pd.Index(item_category.unique())
        item_cat = self.category_index_.get_indexer(item_category)
        weighted = with_weights(interactions, self.event_weights or DEFAULT_EVENT_WEIGHTS)
        affinity = sparse.csr_matrix(
            (weighted["weight"].to_numpy(), (weighted["_customer"].to_numpy(), item_cat[weighted["_item"].to_numpy()])),
            shape=(len(self.customer_index_), len(self.category_index_)),
        )
        totals = np.asarray(affinity.sum(axis=1)).ravel()
        self.affinity_ = sparse.diags(np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)) @ affinity
        popularity = PopularityRecommender(window_days=self.window_days)
        popularity.as_of_, popularity.item_index_, popularity.customer_index_ = self.as_of_, self.item_index_, self.customer_index_
        popularity._fit(interactions)
        best_in_category = pd.Series(popularity.popularity_).groupby(item_cat).transform("max").to_numpy()
        relative = np.divide(popularity.popularity_, best_in_category, out=np.zeros(len(item_cat)), where=best_in_category > 0)
        self.item_category_ = item_cat
        self._lists_cache = None
        self.category_items_ = sparse.csr_matrix(
            (relative, (item_cat, np.arange(len(item_cat)))), shape=(len(self.category_index_), len(item_cat)))

    def _score(self, rows: np.ndarray) -> np.ndarray:
        dense = (self.affinity_[rows] @ self.category_items_).toarray()
        return np.where(dense > 0, dense, -np.inf)

    _SPARSE = True

    def _entries(self, ids, rows, limit):
        """score(c, p) = affinity(c, category of p) x relative popularity of p: within a category the order is
        the popularity order, so each engaged category's `limit` best active products hold the customer's best."""
        known = np.flatnonzero(rows >= 0)
        lists, values = self._category_lists(limit)
        affinity = sparse.coo_matrix(self.affinity_[rows[known]])
        engaged = affinity.data > 0
        owner, category, weight = known[affinity.row[engaged]], affinity.col[engaged], affinity.data[engaged]
        items, relative = lists[category], values[category]
        present = items >= 0
        product = weight[:, None] * relative
        return np.broadcast_to(owner[:, None], items.shape)[present], items[present], product[present]

    def _category_lists(self, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """(categories x limit item numbers, -1 padded; their relative popularity), best first, active only."""
        cached = getattr(self, "_lists_cache", None)
        if cached is not None and cached[0] == limit:
            return cached[1], cached[2]
        relative = np.asarray(self.category_items_.sum(axis=0)).ravel()
        usable = np.flatnonzero((relative > 0) & self.active_)
        order = np.lexsort((usable, -relative[usable], self.item_category_[usable]))
        usable = usable[order]
        category = self.item_category_[usable]
        rank = _ranks(category) - 1
        keep = rank < limit
        lists = np.full((len(self.category_index_), limit), -1, dtype=np.int64)
        values = np.zeros((len(self.category_index_), limit))
        lists[category[keep], rank[keep]] = usable[keep]
        values[category[keep], rank[keep]] = relative[usable[keep]]
        self._lists_cache = (limit, lists, values)
        return lists, values
