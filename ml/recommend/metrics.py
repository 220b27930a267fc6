"""Top-k ranking metrics as pure functions, so every recommender is scored alike.

Each function takes `recommended`, a sequence with one ranked sequence of product ids per customer (best
first, no duplicates), and `relevant`, an aligned sequence of sets: the products each customer actually
bought in the evaluation window. Relevance is binary. A customer whose relevant set is empty has nothing to
recall and is left out of the mean; at least one customer must have a relevant item.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "recall_at_k",
    "ndcg_at_k",
    "map_at_k",
    "hit_rate_at_k",
    "catalogue_coverage",
    "recall_by_novelty",
    "ndcg_by_customer",
]


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")


def _pairs(recommended: Sequence[Sequence], relevant: Sequence[Iterable], k: int) -> list[tuple[list, set]]:
    """Top-k lists and relevant sets of the customers with something relevant."""
    _check_k(k)
    if len(recommended) != len(relevant):
        raise ValueError(
            f"recommended and relevant must hold one entry per customer, got {len(recommended)} and {len(relevant)}"
        )
    pairs = []
    for items, truth in zip(recommended, relevant):
        top = list(items)[:k]
        if len(set(top)) != len(top):
            raise ValueError(f"recommended lists must not repeat a product, got {top}")
        truth = set(truth)
        if truth:
            pairs.append((top, truth))
    if not pairs:
        raise ValueError("relevant must hold at least one non-empty set of products")
    return pairs


def recall_at_k(recommended: Sequence[Sequence], relevant: Sequence[Iterable], k: int = 10) -> float:
    """Mean over customers of |top-k ∩ relevant| / |relevant|."""
    return float(np.mean([len(set(top) & truth) / len(truth) for top, truth in _pairs(recommended, relevant, k)]))


def hit_rate_at_k(recommended: Sequence[Sequence], relevant: Sequence[Iterable], k: int = 10) -> float:
    """Share of customers with at least one relevant product in their top k."""
    return float(np.mean([bool(set(top) & truth) for top, truth in _pairs(recommended, relevant, k)]))


def ndcg_by_customer(recommended: Sequence[Sequence], relevant: Sequence[Iterable], k: int = 10) -> np.ndarray:
    """NDCG@k of each customer with something relevant, in input order (see ndcg_at_k)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = []
    for top, truth in _pairs(recommended, relevant, k):
        gain = sum(discounts[rank] for rank, item in enumerate(top) if item in truth)
        values.append(gain / discounts[: min(k, len(truth))].sum())
    return np.asarray(values)


def ndcg_at_k(recommended: Sequence[Sequence], relevant: Sequence[Iterable], k: int = 10) -> float:
    """Mean normalised discounted cumulative gain: a hit at rank r (1-based) gains 1 / log2(r + 1), divided by
    the gain of the ideal list, which puts min(k, |relevant|) hits first."""
    return float(np.mean(ndcg_by_customer(recommended, relevant, k)))


def map_at_k(recommended: Sequence[Sequence], relevant: Sequence[Iterable], k: int = 10) -> float:
    """Mean average precision: per customer, the precision at each hit's rank summed and divided by
    min(k, |relevant|), so a perfect top k scores 1 even when more than k products are relevant."""
    values = []
    for top, truth in _pairs(recommended, relevant, k):
        hits, precision_sum = 0, 0.0
        for rank, item in enumerate(top, start=1):
            if item in truth:
                hits += 1
                precision_sum += hits / rank
        values.append(precision_sum / min(k, len(truth)))
    return float(np.mean(values))


def catalogue_coverage(recommended: Sequence[Sequence], catalogue_size: int, k: int = 10) -> float:
    """Share of the catalogue that appears in at least one customer's top k."""
    _check_k(k)
    if isinstance(catalogue_size, bool) or not isinstance(catalogue_size, (int, np.integer)) or catalogue_size < 1:
        raise ValueError(f"catalogue_size must be an int >= 1, got {catalogue_size!r}")
    shown = set()
    for items in recommended:
        shown.update(list(items)[:k])
    if len(shown) > catalogue_size:
        raise ValueError(f"catalogue_size {catalogue_size} is smaller than the {len(shown)} distinct products recommended")
    return len(shown) / catalogue_size


def recall_by_novelty(
    recommended: Sequence[Sequence],
    relevant: Sequence[Iterable],
    previously_bought: Sequence[Iterable],
    k: int = 10,
) -> dict[str, float]:
    """Recall@k split into repeat purchases (relevant products the customer bought before the cutoff) and
    new-to-customer products (the rest).

    Returns ``{"repeat": ..., "new": ...}``; each is the mean over the customers who have at least one relevant
    product of that kind, NaN when none has.
    """
    if len(previously_bought) != len(relevant):
        raise ValueError(
            f"previously_bought and relevant must hold one entry per customer, got {len(previously_bought)} and {len(relevant)}"
        )
    _pairs(recommended, relevant, k)  # validates the shared arguments
    bought = [set(items) for items in previously_bought]
    result = {}
    for kind, part in (("repeat", lambda truth, past: truth & past), ("new", lambda truth, past: truth - past)):
        split = [part(set(truth), past) for truth, past in zip(relevant, bought)]
        if any(split):
            result[kind] = recall_at_k(recommended, split, k)
        else:
            result[kind] = float("nan")
    return result
