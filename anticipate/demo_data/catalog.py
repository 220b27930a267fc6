"""The product catalogue: categories, subcategories and brands with log-normal prices and popularity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .text import format_amounts, format_ids, pick
from .timeline import DAY, Timeline, format_utc

#: (category, median list price in EUR, consumable: bought again and again, subcategories, brands)
CATEGORIES = (
    ("Electronics", 95.0, False, ("Headphones", "Chargers", "Smart Home", "Cameras"), ("Voltra", "Nordlys", "Kestrel", "Ampère")),
    ("Home & Kitchen", 32.0, False, ("Cookware", "Storage", "Bedding", "Lighting"), ("Casa Lúa", "Hearth & Co", "Brindle", "Ostwald")),
    ("Fashion", 45.0, False, ("Shirts", "Shoes", "Accessories", "Outerwear"), ("Maison Élise", "Fernweh", "O'Malley & Sons", "Tessuto")),
    ("Beauty", 18.0, True, ("Skincare", "Haircare", "Fragrance"), ("Lumière", "Verdant", "Sølv", "Aurora")),
    ("Sports & Outdoors", 48.0, False, ("Running", "Cycling", "Camping", "Yoga"), ("Trailhead", "Vélo Libre", "Summit", "Kiwa")),
    ("Books", 14.0, False, ("Fiction", "Cookbooks", "Children's", "Travel"), ("Penwright", "Editions Bleu", "Quill", "Atlas")),
    ("Toys & Games", 24.0, False, ("Puzzles", "Board Games", "Building Sets"), ("Tinkerly", "Spielhaus", "Marble & Moss")),
    ("Coffee & Tea", 11.0, True, ("Coffee Beans", "Tea", "Accessories"), ("Café Olé", "Roastery 21", "Chá Verde", "Bergamot")),
    ("Pet Supplies", 19.0, True, ("Dog Food", "Cat Food", "Toys", "Grooming"), ("Happy Paws", "Wagtail", "Miau")),
    ("Garden", 29.0, False, ("Plants", "Tools", "Seeds", "Outdoor Lighting"), ("Greenthumb", "Jardín", "Moosgrün")),
)
CATALOGUE_CURRENCY = "EUR"
COLD_START_DAYS = 30


@dataclass(frozen=True)
class Catalogue:
    """Products sorted by category, with what the order and browsing simulations need."""

    table: pa.Table  # the products.csv content, as text
    category: np.ndarray  # int per product
    list_price: np.ndarray  # EUR
    consumable: np.ndarray  # bool per product
    quality: np.ndarray  # latent 1..5 rating level
    created_at: np.ndarray  # epoch seconds
    discontinued_at: np.ndarray  # epoch seconds; int64 max for products still sold
    popularity_cdf: np.ndarray  # cumulative popularity of sellable products, 0 for cold-start ones
    category_bounds: np.ndarray  # (n_categories, 2) first and past-last product index
    evergreen: np.ndarray  # indexes of products sellable over the whole history

    @property
    def size(self) -> int:
        return len(self.category)

    @property
    def n_categories(self) -> int:
        return len(CATEGORIES)

    def sample_in_categories(self, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
        """A product per row from the given category, weighted by popularity."""
        first, past_last = self.category_bounds[category, 0], self.category_bounds[category, 1]
        low = np.where(first > 0, self.popularity_cdf[np.maximum(first - 1, 0)], 0.0)
        high = self.popularity_cdf[past_last - 1]
        target = low + rng.random(len(category)) * (high - low)
        return np.minimum(np.searchsorted(self.popularity_cdf, target, side="right"), past_last - 1)

    def make_sellable(self, rng: np.random.Generator, product: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Swap products not on sale at `at` (not yet created, or discontinued) for an evergreen one."""
        unavailable = (self.created_at[product] > at) | (self.discontinued_at[product] <= at)
        replaced = product.copy()
        replaced[unavailable] = self.evergreen[rng.integers(0, len(self.evergreen), int(unavailable.sum()))]
        return replaced


def products_for(customers: int) -> int:
    """Catalogue size: about one product per 10 customers, at least 200, at most 20,000."""
    return int(min(20_000, max(200, customers // 10)))


def build_catalogue(rng: np.random.Generator, n_products: int, timeline: Timeline) -> Catalogue:
    n_categories = len(CATEGORIES)
    category_share = rng.dirichlet(np.full(n_categories, 8.0))
    category = np.sort(rng.choice(n_categories, size=n_products, p=category_share))
    # Every category gets at least one product, so every customer preference can be served.
    category[:n_categories] = np.arange(n_categories)
    category = np.sort(category)

    median_price = np.array([entry[1] for entry in CATEGORIES])
    list_price = np.round(np.maximum(median_price[category] * rng.lognormal(0.0, 0.6, n_products), 1.5)) - 0.01
    consumable = np.array([entry[2] for entry in CATEGORIES])[category]
    quality = np.clip(rng.normal(4.0, 0.45, n_products), 1.5, 5.0)

    # Most of the range predates the history; some launches during it; the newest month is cold start.
    start, end = timeline.start, timeline.end
    era = rng.random(n_products)
    created_at = np.where(
        era < 0.72,
        start - rng.integers(DAY, 3 * 365 * DAY, n_products),
        start + rng.integers(0, max(DAY, end - start - COLD_START_DAYS * DAY), n_products),
    )
    n_cold = max(3, int(round(0.03 * n_products)))
    cold = rng.choice(n_products, size=n_cold, replace=False)
    created_at[cold] = end - rng.integers(DAY, COLD_START_DAYS * DAY, n_cold)
    is_cold = np.zeros(n_products, dtype=bool)
    is_cold[cold] = True

    old = np.flatnonzero((created_at < start) & ~is_cold)
    n_inactive = max(2, int(round(0.03 * n_products)))
    inactive = rng.choice(old, size=min(n_inactive, len(old)), replace=False)
    discontinued_at = np.full(n_products, np.iinfo(np.int64).max)
    discontinued_at[inactive] = start + rng.integers(30 * DAY, max(31 * DAY, end - start - 30 * DAY), len(inactive))

    popularity = rng.lognormal(0.0, 1.1, n_products)
    popularity[is_cold] = 0.0  # nobody has bought a product launched last month yet
    popularity_cdf = np.cumsum(popularity)
    category_bounds = np.stack(
        [np.searchsorted(category, np.arange(n_categories), "left"), np.searchsorted(category, np.arange(n_categories), "right")],
        axis=1,
    )
    evergreen = np.flatnonzero((created_at < start) & (discontinued_at == np.iinfo(np.int64).max) & ~is_cold)

    subcategory = np.empty(n_products, dtype=object)
    brand = np.empty(n_products, dtype=object)
    for index, (_, _, _, subcategories, brands) in enumerate(CATEGORIES):
        members = category == index
        subcategory[members] = np.array(subcategories, dtype=object)[rng.integers(0, len(subcategories), members.sum())]
        brand[members] = np.array(brands, dtype=object)[rng.integers(0, len(brands), members.sum())]
    subcategory_text = pa.array(subcategory.tolist(), pa.string())
    brand_text = pa.array(brand.tolist(), pa.string())
    model = format_ids("", rng.integers(100, 1000, n_products), 3)
    name = pc.binary_join_element_wise(brand_text, subcategory_text, model, " ")

    never_updated = rng.random(n_products) < 0.4
    last_edit = np.minimum(created_at + rng.integers(DAY, 400 * DAY, n_products), end - 1)
    updated_at = np.where(never_updated, created_at, last_edit)
    updated_at = np.where(discontinued_at < end, discontinued_at, np.maximum(updated_at, created_at))
    table = pa.table(
        {
            "product_id": format_ids("P", np.arange(1, n_products + 1), 6),
            "name": name,
            "category": pick([entry[0] for entry in CATEGORIES], category),
            "subcategory": subcategory_text,
            "brand": brand_text,
            "list_price": format_amounts(list_price),
            "currency": pa.array([CATALOGUE_CURRENCY] * n_products, pa.string()),
            "created_at": format_utc(created_at),
            "is_active": pick(["true", "false"], (discontinued_at < end).astype(np.int64)),
            "updated_at": format_utc(updated_at),
        }
    )
    return Catalogue(
        table=table,
        category=category,
        list_price=list_price,
        consumable=consumable,
        quality=quality,
        created_at=created_at,
        discontinued_at=discontinued_at,
        popularity_cdf=popularity_cdf,
        category_bounds=category_bounds,
        evergreen=evergreen,
    )
