"""Recommender scoring at scale: generated interactions of 1M customers x 50k products, the two-stage model's
stages timed one by one with wall time and peak memory.

    python -m benchmarks.bench_recommender_scale                                  # 1M x 50k (target: scoring < 10 min, < 12 GiB)
    python -m benchmarks.bench_recommender_scale --customers 20000 --products 2000 --no-write   # quick

Stages, each in its own process so its peak resident memory (ru_maxrss from wait4) is its own; they hand data
over as Parquet and joblib files in a temporary folder:

    generate   synthetic shop (numpy): interactions, products, customers, customer feature snapshots
    fit        TwoStageRecommender.fit on the interactions of --fit-customers sampled customers (default 100,000):
               candidates and features of past windows, LambdaRank with early stopping, serving sources. The weekly
               training; its time on real shops is in the bench-recommender table
    refresh    TwoStageRecommender.refresh on every interaction (what the daily `recommender_candidates` asset does)
    recommend  top 10 for every customer (`next_best_products`)
    similar    similar_products(10)
    write      both tables into a DuckDB file with ml.prediction_tables.replace_table

The scoring path is refresh + recommend + similar + write: what the daily job runs once the ranker is trained.
Writes the table into benchmarks/RESULTS.md between the bench-recommender-scale markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

# 2 cores: BLAS threads on top of implicit's and LightGBM's would oversubscribe them; set before numpy loads
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
STAGES = ("generate", "fit", "refresh", "recommend", "similar", "write")
SCORING_STAGES = ("refresh", "recommend", "similar", "write")
TARGET_SCORING_SECONDS = 600.0
TARGET_PEAK_MIB = 12 * 1024
TARGET_CUSTOMERS, TARGET_PRODUCTS = 1_000_000, 50_000
#: Customers whose interactions the ranker is trained on: training samples at most 4,000 buyers per window
#: anyway, and the target is about the daily scoring of every customer.
DEFAULT_FIT_CUSTOMERS = 100_000
K = 10
#: The year of history ends here; the ranker trains as of one day earlier and scoring refreshes to the end.
END = pd.Timestamp("2026-10-01")
COUNTRIES = np.array(["GB", "DE", "FR", "NL", "ES", "IT", "BE", "PL", "SE", "IE", "PT", "DK"])


@dataclass(frozen=True)
class ShopShape:
    """Knobs of the synthetic shop; the defaults give about 14 interactions per customer."""

    mean_interactions: float = 14.0
    inactive_customer_share: float = 0.05  # signed up, never interacted: cold start
    exploration_share: float = 0.2  # interactions outside the customer's own product pool
    popularity_exponent: float = 1.1  # Zipf exponent of item popularity within a category
    new_product_share: float = 0.01  # launched in the last weeks, mostly without interactions yet
    inactive_product_share: float = 0.03


# ---------------------------------------------------------------------------------------------------- generation


def generate_shop(customers: int, products: int, *, seed: int = 0, shape: ShopShape = ShopShape()):
    """(interactions, products, customers, customer_features) of a synthetic shop over the year before END.

    Customers' activity and products' popularity are heavy-tailed; each customer has one to three favourite
    categories and a small personal pool of products drawn from them by popularity, which they view, put in the
    cart and buy again and again (favourites first); a share of interactions explores popular products
    anywhere. Interaction types: about 62 % views, 14 % carts, 23 % purchases, 1 % ratings.
    """
    if customers < 1 or products < 10:
        raise ValueError("need at least 1 customer and 10 products")
    rng = np.random.default_rng(seed)
    start = END - pd.Timedelta(days=365)

    # catalogue: categories of uneven size, brands nested in categories, log-normal prices per category
    n_categories = int(np.clip(products // 1000, 8, 60))
    category_sizes = rng.dirichlet(np.full(n_categories, 2.0))
    category_of = np.sort(rng.choice(n_categories, size=products, p=category_sizes))
    first_of_category = np.searchsorted(category_of, np.arange(n_categories))
    rank_in_category = np.arange(products) - first_of_category[category_of]
    popularity = (rank_in_category + 1.0) ** -shape.popularity_exponent
    category_weight = np.bincount(category_of, weights=popularity, minlength=n_categories)
    # cumulative popularity within each category, offset by the category number: one searchsorted draws
    # "a product of category g by popularity" for any mix of g
    within = popularity / category_weight[category_of]
    cumulative = np.cumsum(within) - np.concatenate([[0.0], np.cumsum(np.bincount(category_of, weights=within))])[category_of]
    cumulative = np.minimum(cumulative, 1.0) + category_of
    global_cumulative = np.cumsum(popularity) / popularity.sum()
    category_price = rng.lognormal(3.0, 0.8, size=n_categories)
    price = np.round(category_price[category_of] * rng.lognormal(0.0, 0.5, size=products), 2)
    n_brands = max(products // 100, 5)
    brand = (category_of * 7919 + rng.integers(0, max(n_brands // n_categories, 2), size=products)) % n_brands
    new_product = rng.random(products) < shape.new_product_share
    created_at = start - pd.to_timedelta(rng.integers(0, 3 * 365, size=products), unit="D")
    created_at = np.where(new_product, (END - pd.to_timedelta(rng.integers(1, 28, size=products), unit="D")).to_numpy(),
                          created_at.to_numpy())
    product_ids = np.char.add("P", np.char.zfill(np.arange(products).astype(str), 6)).astype(object)
    catalogue = pd.DataFrame({
        "product_id": product_ids,
        "product_name": np.char.add("product ", np.arange(products).astype(str)).astype(object),
        "category": np.char.add("category ", category_of.astype(str)).astype(object),
        "brand": np.char.add("brand ", brand.astype(str)).astype(object),
        "list_price": price,
        "is_active": rng.random(products) >= shape.inactive_product_share,
        "created_at": pd.to_datetime(created_at),
    })

    # customers: heavy-tailed activity (log-normal), a share never interacting, skewed countries
    active = rng.random(customers) >= shape.inactive_customer_share
    sigma = 1.0
    counts = np.where(active, np.maximum(1, np.round(rng.lognormal(np.log(shape.mean_interactions) - sigma ** 2 / 2, sigma,
                                                                     size=customers))), 0).astype(np.int64)
    country_share = 1.0 / np.arange(1, len(COUNTRIES) + 1) ** 1.3
    country = COUNTRIES[rng.choice(len(COUNTRIES), size=customers, p=country_share / country_share.sum())]
    customer_ids = np.char.add("C", np.char.zfill(np.arange(customers).astype(str), 7)).astype(object)
    signed_up = start + pd.to_timedelta(rng.integers(0, 330, size=customers), unit="D")
    people = pd.DataFrame({"customer_id": customer_ids, "country_code": country.astype(object), "signed_up_at": signed_up})

    # each customer's pool: favourites drawn from one to three preferred categories by popularity
    favourite_categories = rng.choice(n_categories, size=(customers, 3), p=category_weight / category_weight.sum())
    pool_size = (2 + np.ceil(counts ** 0.6)).astype(np.int64)
    pool_owner = np.repeat(np.arange(customers), pool_size)
    preferred = favourite_categories[pool_owner, np.minimum(rng.geometric(0.6, size=len(pool_owner)) - 1, 2)]
    pool = np.minimum(np.searchsorted(cumulative, preferred + rng.random(len(pool_owner))), products - 1)
    pool_start = np.concatenate([[0], np.cumsum(pool_size)[:-1]])

    # interactions: a pool slot skewed to the first favourites (repeat purchases), or exploration
    owner = np.repeat(np.arange(customers), counts)
    slot = (pool_size[owner] * rng.random(len(owner)) ** 2).astype(np.int64)
    item = pool[pool_start[owner] + slot]
    explore = rng.random(len(owner)) < shape.exploration_share
    item[explore] = np.minimum(np.searchsorted(global_cumulative, rng.random(int(explore.sum()))), products - 1)
    # products launched in the last weeks have had no time to be seen: keep them new (cold) for their first days
    launched = catalogue["created_at"].to_numpy()[item]
    kind = rng.choice(4, size=len(owner), p=[0.62, 0.14, 0.23, 0.01])
    begins = (signed_up.to_numpy()[owner] - start.to_datetime64()) / np.timedelta64(1, "s")
    moment = begins + rng.random(len(owner)) ** 0.7 * (365 * 86_400 - 1 - begins)
    interacted_at = start.to_datetime64() + (moment * 1e6).astype("timedelta64[us]")
    keep = launched < interacted_at - np.timedelta64(3, "D")
    owner, item, kind, interacted_at = owner[keep], item[keep], kind[keep], interacted_at[keep]
    order = np.argsort(interacted_at, kind="stable")
    owner, item, kind, interacted_at = owner[order], item[order], kind[order], interacted_at[order]
    types = np.array(["view", "cart", "purchase", "rating"], dtype=object)[kind]
    rating = np.where(kind == 3, rng.integers(1, 6, size=len(kind)).astype(float), np.nan)
    quantity = np.where(kind == 2, rng.integers(1, 4, size=len(kind)).astype(float), 1.0)
    interactions = pd.DataFrame({
        "customer_id": customer_ids[owner], "product_id": product_ids[item], "interaction_type": types,
        "interacted_at": pd.to_datetime(interacted_at).as_unit("us"), "quantity": quantity, "rating": rating,
    })
    features = customer_feature_snapshots(interactions, catalogue, snapshot_dates(END))
    return interactions, catalogue, people, features


def snapshot_dates(end: pd.Timestamp, windows: int = 3, horizon_days: int = 14) -> list[pd.Timestamp]:
    """Dates of the feature snapshots the model reads: each training cutoff and the scoring day."""
    as_of = end - pd.Timedelta(days=1)
    return [as_of - pd.Timedelta(days=j * horizon_days) for j in range(windows, 0, -1)] + [end]


def customer_feature_snapshots(interactions: pd.DataFrame, products: pd.DataFrame, dates) -> pd.DataFrame:
    """A few marts.customer_features_snapshot columns at each date, from the interactions before it."""
    price = products.set_index("product_id")["list_price"]
    frames = []
    for as_of in dates:
        before = interactions[interactions["interacted_at"] < as_of]
        age = (as_of - before["interacted_at"]).dt.total_seconds().to_numpy() / 86_400
        purchase = (before["interaction_type"] == "purchase").to_numpy()
        revenue = np.where(purchase, before["product_id"].map(price).to_numpy(dtype=float), 0.0)
        grouped = pd.DataFrame({
            "customer_id": before["customer_id"].to_numpy(), "age": age, "purchase": purchase.astype(float),
            "purchase_90d": (purchase & (age <= 90)).astype(float), "purchase_30d": (purchase & (age <= 30)).astype(float),
            "revenue_90d": np.where(age <= 90, revenue, 0.0), "revenue": revenue,
            "view_90d": ((before["interaction_type"] == "view").to_numpy() & (age <= 90)).astype(float),
        }).groupby("customer_id")
        summary = grouped.agg(tenure_days=("age", "max"), purchase_orders_lifetime=("purchase", "sum"),
                              purchase_orders_90d=("purchase_90d", "sum"), purchase_orders_30d=("purchase_30d", "sum"),
                              net_revenue_90d=("revenue_90d", "sum"), net_revenue_lifetime=("revenue", "sum"),
                              product_views_90d=("view_90d", "sum"))
        last_purchase = before[purchase].groupby("customer_id")["interacted_at"].max()
        summary["days_since_last_purchase"] = (as_of - last_purchase).dt.total_seconds() / 86_400
        frames.append(summary.reset_index().assign(as_of_date=as_of.normalize()))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------- stages


def _model(n_jobs: int, n_estimators: int):
    from ml.recommend.two_stage import TwoStageRecommender

    return TwoStageRecommender(n_jobs=n_jobs, n_estimators=n_estimators, random_state=0)


def fit_sample(customer_ids: pd.Series, fit_customers: int, seed: int) -> set[str] | None:
    """The customers whose interactions the ranker is trained on (None: all of them)."""
    if fit_customers >= len(customer_ids):
        return None
    rng = np.random.default_rng(seed)
    return set(rng.choice(customer_ids.astype(str).to_numpy(dtype=object), size=fit_customers, replace=False).tolist())


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{name}.parquet")


def run_stage(stage: str, folder: Path, *, customers: int, products: int, seed: int, n_jobs: int,
              n_estimators: int = 300, fit_customers: int = DEFAULT_FIT_CUSTOMERS) -> dict:
    """Run one stage in this process; return what it reports (rows, counts)."""
    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    if stage == "generate":
        interactions, catalogue, people, features = generate_shop(customers, products, seed=seed)
        for name, frame in (("interactions", interactions), ("products", catalogue), ("customers", people),
                            ("customer_features", features)):
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        counts = interactions["interaction_type"].value_counts().to_dict()
        return {"interactions": len(interactions), "by_type": {str(k): int(v) for k, v in counts.items()},
                "customers_with_interactions": int(interactions["customer_id"].nunique()),
                "products_with_interactions": int(interactions["product_id"].nunique())}
    if stage == "fit":
        interactions, catalogue, people = _read(folder, "interactions"), _read(folder, "products"), _read(folder, "customers")
        features = _read(folder, "customer_features")
        sample = fit_sample(people["customer_id"], fit_customers, seed)
        if sample is not None:
            interactions = interactions[interactions["customer_id"].isin(sample)]
            people = people[people["customer_id"].isin(sample)]
            features = features[features["customer_id"].isin(sample)]
        as_of = END - pd.Timedelta(days=1)
        model = _model(n_jobs, n_estimators).fit(interactions[interactions["interacted_at"] < as_of], products=catalogue, customers=people,
                                   customer_features=features[features["as_of_date"] < as_of], as_of=as_of)
        joblib.dump(model, folder / "trained.joblib")
        return {"training_rows": int(getattr(model, "training_rows_", 0)),
                "training_queries": int(getattr(model, "training_queries_", 0)),
                "fit_customers": len(people), "trees": getattr(model, "best_iteration_", None) or n_estimators,
                "max_candidates": getattr(model, "max_candidates", None),
                "seconds": {name: round(value, 1) for name, value in model.training_seconds_.items()}}
    if stage == "refresh":
        model = joblib.load(folder / "trained.joblib")
        model.refresh(_read(folder, "interactions"), products=_read(folder, "products"), customers=_read(folder, "customers"),
                      customer_features=_read(folder, "customer_features"), as_of=END, n_jobs=n_jobs)
        joblib.dump(model, folder / "serving.joblib")
        return {"source_seconds": {name: round(value, 1) for name, value in model.generator_.fit_seconds_.items()}}
    if stage == "recommend":
        model = joblib.load(folder / "serving.joblib")
        ids = _read(folder, "customers")["customer_id"].sort_values().tolist()  # as next_best_products reads dim_customers
        lists = model.recommend(ids, K, n_jobs=n_jobs)
        lists.to_parquet(folder / "next_best_products.parquet", index=False)
        per_customer = lists.groupby("customer_id").size()
        return {"rows": len(lists), "customers": int(len(per_customer)), "customers_with_k": int((per_customer == K).sum()),
                "reasons": {str(k): int(v) for k, v in lists["reason"].str.replace(r" .*", "", regex=True).value_counts().items()}}
    if stage == "similar":
        model = joblib.load(folder / "serving.joblib")
        similar = model.similar_products(K)
        similar.to_parquet(folder / "similar_products.parquet", index=False)
        return {"rows": len(similar), "products": int(similar["product_id"].nunique())}
    if stage == "write":
        import duckdb

        from ml.prediction_tables import ensure_prediction_tables, replace_table

        scored_at = datetime.now(timezone.utc)
        written = {}
        with duckdb.connect(str(folder / "scored.duckdb")) as connection:
            ensure_prediction_tables(connection)
            for table, name in (("predictions.next_best_products", "next_best_products"),
                                ("predictions.similar_products", "similar_products")):
                frame = _read(folder, name).assign(model_version="bench", scored_at=scored_at)
                written[name] = replace_table(connection, table, frame)
        return {"rows": written}
    raise ValueError(f"unknown stage {stage!r}")


@dataclass
class Measurement:
    stage: str
    seconds: float
    peak_mib: float
    report: dict
    cpu_seconds: float = 0.0  # user + system of the stage's process and the workers it waited for
    load_average: float = 0.0  # 1-minute load average when the stage started
    peak_total_mib: float = 0.0  # largest sum of proportional set sizes of the stage's process tree (sampled)


def _tree_pss_mib(pid: int) -> float:
    """Proportional set size of a process and its descendants (Linux): pages shared by forked workers are
    counted once in the sum, unlike summing their resident sizes."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
            with open(f"/proc/{current}/task/{current}/children") as children:
                pending.extend(int(child) for child in children.read().split())
        except (OSError, StopIteration, ValueError):
            continue  # the process ended meanwhile
    return total / 1024


def _sample_peak(pid: int, peak: list[float], interval: float = 0.5) -> None:
    while os.path.exists(f"/proc/{pid}") and not peak[1]:
        peak[0] = max(peak[0], _tree_pss_mib(pid))
        time.sleep(interval)


def run_measured(stage: str, folder: Path, *, customers: int, products: int, seed: int, n_jobs: int,
                 n_estimators: int = 300, fit_customers: int = DEFAULT_FIT_CUSTOMERS) -> Measurement:
    """Run a stage as a child process; its wall time and peak RSS (ru_maxrss from wait4) are its own."""
    command = [sys.executable, "-m", "benchmarks.bench_recommender_scale", "--stage", stage, "--folder", str(folder),
               "--customers", str(customers), "--products", str(products), "--seed", str(seed), "--n-jobs", str(n_jobs),
               "--n-estimators", str(n_estimators), "--fit-customers", str(fit_customers)]
    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPOSITORY_ROOT, text=True)
    peak = [0.0, False]  # [largest tree PSS so far, stop]
    sampler = threading.Thread(target=_sample_peak, args=(process.pid, peak), daemon=True)
    sampler.start()
    output = process.stdout.read()
    peak[1] = True
    sampler.join()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"stage {stage} failed:\n{output[-4000:]}")
    report_path = folder / f"{stage}.report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return Measurement(stage, seconds, usage.ru_maxrss / 1024, report, usage.ru_utime + usage.ru_stime, load_average,
                       peak[0])


def bench(customers: int, products: int, *, seed: int = 0, n_jobs: int = 1, n_estimators: int = 300,
          fit_customers: int = DEFAULT_FIT_CUSTOMERS, folder: Path | None = None, echo: bool = True,
          resume_from: str | None = None, previous: list[Measurement] | None = None) -> list[Measurement]:
    """Every stage in order, each in its own process; the folder is removed afterwards unless given.
    `resume_from` skips the stages before it (their files must be in `folder`; `previous` their measurements)."""
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="bench_recommender_scale_")) if own else folder
    measurements = list(previous or [])
    stages = STAGES[STAGES.index(resume_from):] if resume_from else STAGES
    try:
        for stage in stages:
            measurement = run_measured(stage, folder, customers=customers, products=products, seed=seed, n_jobs=n_jobs,
                                       n_estimators=n_estimators, fit_customers=fit_customers)
            measurements.append(measurement)
            if echo:
                print(f"  {stage:<10} {measurement.seconds:8.1f} s  {measurement.cpu_seconds:8.1f} cpu s  "
                      f"{measurement.peak_mib:8,.0f} MiB ({measurement.peak_total_mib:,.0f} all)  load {measurement.load_average:.1f}  "
                      f"{json.dumps(measurement.report)[:200]}", flush=True)
            (folder / "measurements.json").write_text(json.dumps([m.__dict__ for m in measurements]))
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)
    return measurements


def render(measurements: list[Measurement], *, customers: int, products: int, seed: int, n_jobs: int,
           fit_customers: int = DEFAULT_FIT_CUSTOMERS) -> str:
    by_stage = {m.stage: m for m in measurements}
    fitted_on = by_stage["fit"].report.get("fit_customers", min(fit_customers, customers))
    generated = by_stage["generate"].report
    scoring = sum(by_stage[s].seconds for s in SCORING_STAGES)
    # a stage's memory: its largest process (ru_maxrss) or, with forked workers, their sampled PSS sum if larger
    peak = max(max(m.peak_mib, m.peak_total_mib) for m in measurements)
    descriptions = {
        "generate": f"generate: {generated.get('interactions', 0):,} interactions "
                    f"({', '.join(f'{v:,} {k}' for k, v in generated.get('by_type', {}).items())}) of "
                    f"{generated.get('customers_with_interactions', 0):,} customers",
        "fit": f"fit: ranker on 3 past windows + serving sources, on the interactions of {fitted_on:,} "
               f"{'sampled ' if fitted_on < customers else ''}customers",
        "refresh": "refresh: serving sources on every interaction",
        "recommend": f"recommend: top {K} for {customers:,} customers",
        "similar": f"similar_products: top {K}",
        "write": "write both tables (replace_table)",
    }
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, `python -m benchmarks.bench_recommender_scale --customers {customers} --products "
        f"{products} --fit-customers {fit_customers} --seed {seed} --n-jobs {n_jobs}` ({n_jobs} iALS and LightGBM threads, "
        f"{n_jobs} scoring processes). Each stage runs in its own process; peak memory is that process's ru_maxrss "
        "(with forked scoring workers, the largest process's), and all processes is the largest sum of their "
        "proportional set sizes sampled every 0.5 s (shared pages counted once); CPU seconds are user + system of "
        "the stage and its workers. "
        "When other work shares the cores (load average above the cores) wall times are upper bounds.",
        "",
        "| stage | seconds | CPU seconds | peak MiB | all processes MiB | load average at start |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        total = f"{m.peak_total_mib:,.0f}" if m.peak_total_mib else "not sampled"  # measured before sampling existed
        lines.append(f"| {descriptions[m.stage]} | {m.seconds:.1f} | {m.cpu_seconds:.1f} | {m.peak_mib:,.0f} | "
                     f"{total} | {m.load_average:.1f} |")
    lines.append("")
    if customers >= TARGET_CUSTOMERS and products >= TARGET_PRODUCTS:
        lines.append(
            f"Scoring path (refresh + recommend + similar + write): {scoring:.1f} s, target under {TARGET_SCORING_SECONDS:.0f} s: "
            f"{'met' if scoring < TARGET_SCORING_SECONDS else 'NOT met'}. Largest peak: {peak:,.0f} MiB, target under "
            f"{TARGET_PEAK_MIB:,} MiB per stage: {'met' if peak < TARGET_PEAK_MIB else 'NOT met'}. "
            f"All stages: {sum(m.seconds for m in measurements):.1f} s.")
        scoring_cpu = sum(by_stage[s].cpu_seconds for s in SCORING_STAGES)
        if scoring_cpu:
            lines.append(
                f"Scoring path CPU: {scoring_cpu:.1f} s, so at least {scoring_cpu / max(n_jobs, 1):.1f} s of wall time on "
                f"{n_jobs} otherwise idle cores (the wall time above exceeds that by the waiting for shared cores and "
                "the stages' serial parts).")
    else:
        # the targets are for 1M x 50k; scoring cost grows about linearly with the customers scored
        estimate = scoring * TARGET_CUSTOMERS / customers
        lines.append(
            f"Scoring path (refresh + recommend + similar + write): {scoring:.1f} s; largest peak {peak:,.0f} MiB; all stages "
            f"{sum(m.seconds for m in measurements):.1f} s. The targets (scoring under {TARGET_SCORING_SECONDS:.0f} s, every "
            f"stage under {TARGET_PEAK_MIB:,} MiB) are for {TARGET_CUSTOMERS:,} x {TARGET_PRODUCTS:,}: scaled linearly by "
            f"customers this run's scoring path would take about {estimate:,.0f} s there "
            f"({'within' if estimate < TARGET_SCORING_SECONDS else 'over'} the target).")
    fit = by_stage["fit"].report
    if fit:
        lines.append(f"Fit: {fit.get('training_queries', 0):,} training queries, {fit.get('training_rows', 0):,} candidate rows; "
                     f"ranker of {fit.get('trees')} trees (early stopping), "
                     + (f"at most {fit['max_candidates']} candidates per customer" if fit.get("max_candidates")
                        else "every merged candidate ranked") + f"; seconds {fit.get('seconds', {})}.")
    refresh = by_stage["refresh"].report
    if refresh:
        lines.append(f"Refresh, seconds per candidate source: {refresh.get('source_seconds', {})}.")
    recommend = by_stage["recommend"].report
    if recommend:
        lines.append(f"Recommend: {recommend.get('rows', 0):,} rows, {recommend.get('customers_with_k', 0):,} of "
                     f"{recommend.get('customers', 0):,} customers with {K}; reasons {recommend.get('reasons', {})}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=2,
                        help="threads for iALS and LightGBM and processes scoring recommendations (default 2: the "
                             "target machine's cores)")
    parser.add_argument("--n-estimators", type=int, default=300,
                        help="most ranker trees (the model's default: 300; early stopping usually keeps fewer)")
    parser.add_argument("--fit-customers", type=int, default=DEFAULT_FIT_CUSTOMERS,
                        help="train the ranker on the interactions of this many sampled customers (default %(default)s); "
                             "refresh, recommend, similar and write use every customer")
    parser.add_argument("--no-write", action="store_true", help="print the table without writing benchmarks/RESULTS.md")
    parser.add_argument("--keep", type=Path, help="keep the stages' files in this folder")
    parser.add_argument("--resume-from", choices=STAGES[1:],
                        help="start at this stage, reusing the earlier stages' files and measurements in --keep")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # internal: run one stage in this process
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        report = run_stage(args.stage, args.folder, customers=args.customers, products=args.products, seed=args.seed,
                           n_jobs=args.n_jobs, n_estimators=args.n_estimators, fit_customers=args.fit_customers)
        (args.folder / f"{args.stage}.report.json").write_text(json.dumps(report))
        return
    previous = None
    if args.resume_from:
        if args.keep is None:
            parser.error("--resume-from needs --keep: the folder holding the earlier stages' files")
        recorded = args.keep / "measurements.json"
        if not recorded.exists():
            parser.error(f"--resume-from: {recorded} is missing (run the earlier stages with --keep {args.keep} first)")
        earlier = set(STAGES[:STAGES.index(args.resume_from)])
        previous = [Measurement(**m) for m in json.loads(recorded.read_text()) if m["stage"] in earlier]
        missing = earlier - {m.stage for m in previous}
        if missing:
            parser.error(f"--resume-from: {recorded} lacks stages {sorted(missing)}")
    print(f"{args.customers:,} customers x {args.products:,} products", flush=True)
    measurements = bench(args.customers, args.products, seed=args.seed, n_jobs=args.n_jobs, n_estimators=args.n_estimators,
                         fit_customers=args.fit_customers, folder=args.keep, resume_from=args.resume_from,
                         previous=previous)
    table = render(measurements, customers=args.customers, products=args.products, seed=args.seed, n_jobs=args.n_jobs,
                   fit_customers=args.fit_customers)
    print(table)
    if not args.no_write:
        from benchmarks.results import RESULTS, write_section

        write_section("bench-recommender-scale", "Recommender scoring at scale (`make bench-recommender-scale`)", table)
        print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
