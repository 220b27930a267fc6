"""Next-best-product recommenders on real data: every baseline and the two-stage model on one time split.

    python -m benchmarks.bench_recommender            # builds both warehouses under benchmarks/work/recommender
    python -m benchmarks.bench_recommender --datasets online_retail --no-write

Each dataset goes through its mapping (ingest, then `dbt build` of the marts the recommenders read). The
cutoff is the latest one whose 14-day window lies inside the data; every recommender fits on interactions
strictly before it and is scored on the purchases of the window, for the customers who bought in it.
Writes the tables into benchmarks/RESULTS.md between the bench-recommender markers.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import real_data
from benchmarks.real_data import REPOSITORY_ROOT
from benchmarks.results import RESULTS, write_section

# 2 cores: BLAS threads on top of implicit's and LightGBM's would oversubscribe them; set before numpy loads
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

WORK = REPOSITORY_ROOT / "benchmarks" / "work" / "recommender"
SELECTION = ("+fct_order_items", "+dim_products", "+dim_customers", "+int_customer_product_interactions_unioned",
             "+customer_features_snapshot")
HORIZON_DAYS = 14
K = 10
METRICS = ("recall", "ndcg", "map", "hit_rate", "coverage", "recall_repeat", "recall_new")
#: The customer attribute cold-start popularity segments by: Ta-Feng has no country but an age group.
SEGMENTS = {"online_retail": ("country_code",), "ta_feng": ("age_band",)}
COMMAND = "python -m benchmarks.bench_recommender"


def build_warehouse(dataset: str, warehouse: Path) -> None:
    real_data.build_warehouse(dataset, warehouse, SELECTION)


def recommenders(dataset: str, *, n_jobs: int = 2, two_stage: dict | None = None) -> dict[str, object]:
    """Every recommender of the table, unfitted; `two_stage` overrides TwoStageRecommender's parameters."""
    from ml.recommend.baselines import (
        GPTopFrequency,
        ImplicitALS,
        ItemKNN,
        PersonalTopFrequency,
        PopularityRecommender,
    )

    candidates: dict[str, object] = {}
    try:
        from ml.recommend.two_stage import TwoStageRecommender
    except ImportError:  # the two-stage model is optional while it is being built
        TwoStageRecommender = None
    if TwoStageRecommender is not None:
        options = {"horizon_days": HORIZON_DAYS, "segment_columns": SEGMENTS[dataset], "n_jobs": n_jobs,
                   "random_state": 0, **(two_stage or {})}
        candidates["two-stage: candidates + LightGBM LambdaRank"] = TwoStageRecommender(**options)
    candidates.update({
        "baseline: global popularity": PopularityRecommender(),
        "baseline: P-TopFreq": PersonalTopFrequency(),
        "baseline: GP-TopFreq": GPTopFrequency(),
        "baseline: item-kNN (cosine, 100 neighbours)": ItemKNN(neighbours=100),
        "baseline: iALS (64 factors)": ImplicitALS(factors=64, random_state=0, num_threads=n_jobs),
    })
    return candidates


def evaluate_dataset(dataset: str, warehouse: Path, *, n_jobs: int = 2, two_stage: dict | None = None) -> list[str]:
    """Markdown lines: the split, then one row per recommender with every metric at K and its timings."""
    from ml.recommend.data import default_cutoff, load_recommendation_data
    from ml.recommend.evaluation import evaluate_recommenders, paired_ndcg_difference

    cutoff = default_cutoff(warehouse, HORIZON_DAYS)
    data = load_recommendation_data(warehouse, cutoff, horizon_days=HORIZON_DAYS)
    models = recommenders(dataset, n_jobs=n_jobs, two_stage=two_stage)
    result = evaluate_recommenders(models, data, k=K)
    table = result.table
    purchases = data.interactions["interaction_type"] == "purchase"
    lines = [
        f"### {dataset}",
        "",
        f"Cutoff {cutoff.date()}; training: {len(data.interactions):,} interactions "
        f"({int(purchases.sum()):,} purchase lines) of {data.interactions['customer_id'].nunique():,} customers before it; "
        f"evaluated: {result.customers:,} customers who bought in the next {HORIZON_DAYS} days "
        f"({result.customers_without_history:,} of them without history), "
        f"{data.future_purchases[['customer_id', 'product_id']].drop_duplicates().shape[0]:,} distinct customer-product purchases.",
        "",
        "| recommender | " + " | ".join(f"{m}@{K}" if m != "coverage" else "coverage" for m in METRICS)
        + " | fit s | recommend s |",
        "|---|" + "---:|" * (len(METRICS) + 2),
    ]
    for name, row in table.iterrows():
        lines.append(f"| {name} | " + " | ".join("n/a" if row[m] != row[m] else f"{row[m]:.4f}" for m in METRICS)
                     + f" | {row['fit_seconds']:.1f} | {row['recommend_seconds']:.1f} |")
    lines.append("")
    lines += history_only(dataset, data, result)
    baselines = table[table.index.str.startswith("baseline:")]
    best = baselines["ndcg"].idxmax()
    lines.append(f"Best baseline on NDCG@{K}: {best} ({baselines.loc[best, 'ndcg']:.4f}).")
    others = table[~table.index.str.startswith("baseline:")]
    for name, row in others.iterrows():
        gap = paired_ndcg_difference(result.recommendations[name], result.recommendations[best], data.future_purchases,
                                     k=K, n_resamples=2000, random_state=0)
        if gap["low"] > 0:
            verdict = "beats it"
        elif gap["difference"] > 0:
            verdict = "is ahead of it, but within noise (the interval includes 0)"
        else:
            verdict = "does not beat it"
        lines.append(f"{name} {verdict}: NDCG@{K} {row['ndcg']:.4f}, difference {gap['difference']:+.4f} "
                     f"(paired bootstrap over customers, 95% interval {gap['low']:+.4f} to {gap['high']:+.4f}).")
        lines += two_stage_details(models[name], result.recommendations[name])
    lines.append("")
    print("\n".join(lines), flush=True)
    return lines


#: Published or measured bars quoted in ../shared/README.md: (recommender, metric, value).
PUBLISHED_BARS = {
    "online_retail": (("baseline: P-TopFreq", "ndcg", 0.38), ("baseline: iALS (64 factors)", "ndcg", 0.27)),
    "ta_feng": (("baseline: GP-TopFreq", "recall", 0.134),),
}


def history_only(dataset: str, data, result) -> list[str]:
    """NDCG and recall over the evaluated customers who have history (the population of next-basket studies),
    set beside the published bars of ../shared/README.md."""
    from ml.recommend.evaluation import ranking_metrics

    known = set(data.interactions["customer_id"].astype(str))
    future = data.future_purchases[data.future_purchases["customer_id"].astype(str).isin(known)]
    past = data.interactions[data.interactions["interaction_type"] == "purchase"][["customer_id", "product_id"]]
    catalogue = len(set(data.products["product_id"].astype(str)) | set(data.interactions["product_id"].astype(str)))
    scores = {name: ranking_metrics(lists, future, past, catalogue_size=catalogue, k=K)
              for name, lists in result.recommendations.items()}
    lines = [f"Customers with history only ({future['customer_id'].nunique():,}): "
             + "; ".join(f"{name.removeprefix('baseline: ')} NDCG@{K} {m['ndcg']:.4f}, recall@{K} {m['recall']:.4f}"
                         for name, m in scores.items()) + "."]
    bars = []
    for name, metric, value in PUBLISHED_BARS.get(dataset, ()):
        measured = scores[name][metric]
        bars.append(f"{name.removeprefix('baseline: ')} {metric}@{K} {value} published, {measured:.4f} here "
                    f"({'above' if measured >= value else 'below'})")
    if bars:
        lines.append("Published bars (../shared/README.md; next-basket protocols, not this 14-day window): "
                     + "; ".join(bars) + ".")
    lines.append("")
    return lines


def two_stage_details(model, recommendations) -> list[str]:
    """How the two-stage model was trained and why it ranks as it does: windows, sizes, timings, top features."""
    import pandas as pd

    if not hasattr(model, "ranker_"):
        return []
    seconds = ", ".join(f"{stage} {value:.0f} s" for stage, value in model.training_seconds_.items())
    lines = [f"Two-stage training: {model.training_windows} past windows of {model.horizon_days} days before the cutoff, "
             f"{getattr(model, 'training_queries_', 0):,} customer queries, {getattr(model, 'training_rows_', 0):,} "
             f"candidate rows (positive rate {getattr(model, 'training_positive_rate_', float('nan')):.3f}); {seconds}."]
    if model.ranker_ is not None:
        gain = pd.Series(model.ranker_.booster_.feature_importance(importance_type="gain"), index=model.feature_columns_)
        top = (gain / gain.sum()).sort_values(ascending=False).head(8)
        lines.append("Ranker gain share, top features: " + ", ".join(f"{name} {value:.2f}" for name, value in top.items()) + ".")
    reasons = recommendations["reason"].str.replace(r" (with|in|to) .*$", r" \1 ...", regex=True).value_counts(normalize=True)
    lines.append("Reasons shown: " + ", ".join(f"{reason} {share:.0%}" for reason, share in reasons.items()) + ".")
    lines += [f"Note: {note}." for note in model.notes_]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    real_data.add_dataset_arguments(
        parser, warehouse_help="use this warehouse instead of building one under benchmarks/work/recommender")
    args = parser.parse_args()
    warehouses = real_data.dataset_warehouses(args, WORK)

    started_all = time.perf_counter()
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {os.cpu_count()} cores ({platform.machine()}) with `{COMMAND}`; "
        "wall times are upper bounds (the machine was shared). Protocol: fit on every interaction strictly before the "
        f"cutoff, recommend {K} products to each customer who bought in the {HORIZON_DAYS} days from the cutoff, score "
        "against the distinct products they bought (binary relevance). recall_repeat / recall_new: recall over products "
        "the customer had / had not bought before the cutoff. Coverage: share of the active catalogue in any top "
        f"{K}. Purchases are not excluded from the lists: re-buying is most of what these shops see.",
        "",
    ]
    for dataset, warehouse in warehouses:
        started = time.perf_counter()
        build_warehouse(dataset, warehouse)
        print(f"{dataset}: warehouse built in {time.perf_counter() - started:.0f} s", flush=True)
        lines += evaluate_dataset(dataset, warehouse)
    lines.append(f"Whole run: {time.perf_counter() - started_all:.0f} s.")
    body = "\n".join(lines).rstrip()
    if not args.no_write:
        write_section("bench-recommender", "Recommendations on real data (`make bench-recommender`)", body)
        print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
