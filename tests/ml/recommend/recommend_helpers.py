"""Hand-built interaction frames shared by the recommender tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY0 = pd.Timestamp("2024-01-01")


def interactions(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (customer_id, product_id, interaction_type, day offset[, rating]) as an interactions frame."""
    frame = pd.DataFrame(
        [(c, p, t, DAY0 + pd.Timedelta(days=d), (r[0] if r else None)) for c, p, t, d, *r in rows],
        columns=["customer_id", "product_id", "interaction_type", "interacted_at", "rating"],
    )
    return frame.assign(quantity=1.0, rating=frame["rating"].astype(float))


def products(ids, *, inactive=(), categories=None, brands=None, prices=None) -> pd.DataFrame:
    ids = list(ids)
    return pd.DataFrame({
        "product_id": ids,
        "category": [(categories or {}).get(i, "general") for i in ids],
        "brand": [(brands or {}).get(i) for i in ids],
        "list_price": [float((prices or {}).get(i, 10.0)) for i in ids],
        "is_active": [i not in inactive for i in ids],
    })


def two_communities(seed: int = 0, customers_per_group: int = 20, items_per_group: int = 6) -> pd.DataFrame:
    """Group a buys only a-products, group b only b-products: collaborative models must keep them apart."""
    rng = np.random.default_rng(seed)
    rows = []
    for group in ("a", "b"):
        for c in range(customers_per_group):
            bought = rng.choice(items_per_group, size=3, replace=False)
            rows += [(f"{group}{c}", f"{group}-item{i}", "purchase", int(rng.integers(0, 50))) for i in bought]
    return interactions(rows)


def synthetic_shop(customers: int = 120, n_products: int = 30, days: int = 120, seed: int = 0):
    """(interactions, products, customers) of a shop where each customer re-buys three favourite products about
    weekly, views a few others, and now and then buys a popular product; two countries.

    Products 0-4 are popular with everyone; product 29 is inactive.
    """
    rng = np.random.default_rng(seed)
    product_ids = [f"p{i:02d}" for i in range(n_products)]
    rows = []
    for c in range(customers):
        customer = f"c{c:03d}"
        favourites = rng.choice(np.arange(5, n_products - 1), size=3, replace=False)
        start = int(rng.integers(0, 20))
        for day in range(start, days, 7):
            if rng.random() < 0.7:
                for item in favourites:
                    if rng.random() < 0.6:
                        rows.append((customer, product_ids[item], "purchase", day + float(rng.random())))
            if rng.random() < 0.3:
                rows.append((customer, product_ids[int(rng.integers(0, 5))], "purchase", day + float(rng.random())))
            if rng.random() < 0.5:
                rows.append((customer, product_ids[int(rng.integers(0, n_products))], "view", day + float(rng.random())))
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "interaction_type", "day"])
    frame["interacted_at"] = DAY0 + pd.to_timedelta(frame.pop("day"), unit="D")
    frame = frame.assign(quantity=1.0, rating=np.nan).sort_values("interacted_at", ignore_index=True)
    catalogue = products(product_ids, inactive={product_ids[-1]},
                         categories={p: ("shoes" if i % 2 else "books") for i, p in enumerate(product_ids)},
                         brands={p: f"brand{i % 3}" for i, p in enumerate(product_ids)},
                         prices={p: 5.0 + i for i, p in enumerate(product_ids)})
    people = pd.DataFrame({"customer_id": [f"c{c:03d}" for c in range(customers)],
                           "country_code": ["FR" if c % 2 else "DE" for c in range(customers)]})
    return frame, catalogue, people
