"""Cold start: segment popularity for customers without interactions, content similarity for new products."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.recommend.cold_start import NewProductRecommender, SegmentPopularity, content_vectors
from ml.recommend.two_stage import CandidateGenerator

from recommend_helpers import DAY0, interactions, products

AS_OF = DAY0 + pd.Timedelta(days=30)
# 25 French customers buy croissants (and some baguettes), 25 Germans pretzels; everyone also buys water
FR = [f"fr{i}" for i in range(25)]
DE = [f"de{i}" for i in range(25)]
SHOP = interactions(
    [(c, "croissant", "purchase", 1) for c in FR] + [(c, "baguette", "purchase", 2) for c in FR[:10]]
    + [(c, "pretzel", "purchase", 1) for c in DE] + [(c, "water", "purchase", 3) for c in FR + DE]
    + [("lux0", "caviar", "purchase", 4), ("lux1", "caviar", "purchase", 5)]
)
PEOPLE = pd.DataFrame({
    "customer_id": FR + DE + ["lux0", "lux1", "new_fr", "new_de", "new_lu"],
    "country_code": ["FR"] * 25 + ["DE"] * 25 + ["LU", "LU", "FR", "DE", "LU"],
})


def lists(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {c: g.sort_values("rank")["product_id"].tolist() for c, g in frame.groupby("customer_id")}


def test_new_customers_get_their_countrys_favourites_first_then_global_popularity():
    model = SegmentPopularity(segment_columns=("country_code",), min_segment_buyers=20)
    model.fit(SHOP, customers=PEOPLE, as_of=AS_OF)
    result = lists(model.recommend(["new_fr", "new_de"], k=3))
    assert result["new_fr"] == ["water", "croissant", "baguette"]
    assert result["new_de"] == ["water", "pretzel", "croissant"]
    assert model.segment_label(["new_fr", "new_de"]) == ["FR", "DE"]


def test_a_segment_too_small_to_trust_and_an_unknown_customer_get_the_global_list():
    model = SegmentPopularity(min_segment_buyers=20).fit(SHOP, customers=PEOPLE, as_of=AS_OF)
    result = lists(model.recommend(["new_lu", "nobody"], k=2))
    # Luxembourg has 2 buyers (of caviar): below 20, so no caviar, just the global top
    assert result["new_lu"] == result["nobody"] == ["water", "croissant"]
    assert model.segment_label(["new_lu", "nobody"]) == [None, None]


def test_segment_popularity_needs_its_columns():
    with pytest.raises(ValueError, match="missing"):
        SegmentPopularity(segment_columns=("signup_channel",)).fit(SHOP, customers=PEOPLE)
    with pytest.raises(ValueError, match="segment_columns"):
        SegmentPopularity(segment_columns=()).fit(SHOP, customers=PEOPLE)


CATALOGUE = products(
    ["trail-shoe", "road-shoe", "novel", "atlas", "new-shoe", "new-book", "future-shoe", "undated-shoe"],
    categories={"trail-shoe": "shoes", "road-shoe": "shoes", "new-shoe": "shoes", "future-shoe": "shoes",
                "undated-shoe": "shoes", "novel": "books", "atlas": "books", "new-book": "books"},
    brands={"trail-shoe": "acme", "road-shoe": "acme", "new-shoe": "acme", "future-shoe": "acme",
            "undated-shoe": "acme", "novel": "pub", "atlas": "pub", "new-book": "pub"},
    prices={"trail-shoe": 100, "road-shoe": 90, "new-shoe": 95, "future-shoe": 95, "undated-shoe": 95,
            "novel": 15, "atlas": 40, "new-book": 20},
).assign(created_at=pd.to_datetime(["2023-06-01"] * 6 + ["2024-03-01", None]))
BROWSING = interactions([
    ("runner", "trail-shoe", "purchase", 1), ("runner", "road-shoe", "view", 2), ("runner", "novel", "view", 3),
    ("reader", "novel", "purchase", 1), ("reader", "atlas", "cart", 2),
])


def test_a_new_product_reaches_customers_whose_products_resemble_it():
    model = NewProductRecommender().fit(BROWSING, products=CATALOGUE, as_of=AS_OF)
    result = lists(model.recommend(["runner", "reader"], k=5))
    # only products without interactions are new; the runner's top is the shoe, the reader's the book
    assert set(result["runner"]) <= {"new-shoe", "new-book"} and result["runner"][0] == "new-shoe"
    assert result["reader"][0] == "new-book" and "new-shoe" not in result["reader"]
    anchors = model.anchors(pd.DataFrame({"customer_id": ["runner", "reader"], "product_id": ["new-shoe", "new-book"]}))
    # the runner's shoes are both acme shoes near its price; the reader's novel is nearer in price than the atlas
    assert anchors.iloc[0] in {"trail-shoe", "road-shoe"} and anchors.iloc[1] == "novel"


def test_products_launched_after_as_of_or_without_a_launch_date_are_not_new_products():
    """A catalogue rebuilt from later sales must not reveal which products are about to sell."""
    model = NewProductRecommender().fit(BROWSING, products=CATALOGUE, as_of=AS_OF)
    recommended = set(model.recommend(["runner", "reader"], k=8)["product_id"])
    assert not recommended & {"future-shoe", "undated-shoe"}


def test_content_vectors_make_same_category_and_brand_products_closest():
    ids, vectors = content_vectors(CATALOGUE)
    similarity = (vectors @ vectors.T).toarray()
    position = {p: i for i, p in enumerate(ids)}
    shoe_to_shoe = similarity[position["new-shoe"], position["trail-shoe"]]
    shoe_to_book = similarity[position["new-shoe"], position["novel"]]
    assert shoe_to_shoe > 0.9 > shoe_to_book


def test_the_two_stage_candidates_carry_new_products_to_matching_customers():
    generator = CandidateGenerator({"repeat": 5, "new_product": 2}).fit(BROWSING, products=CATALOGUE, as_of=AS_OF)
    candidates = generator.generate(["runner"])
    new = candidates[candidates["new_product_rank"].notna()].sort_values("new_product_rank")
    assert new["product_id"].iloc[0] == "new-shoe"
