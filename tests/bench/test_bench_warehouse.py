"""The warehouse benchmark's split of one dbt build by layer, read from dbt's own artifacts."""

from __future__ import annotations

from benchmarks.bench_warehouse import layer_seconds


def _node(resource_type: str, folder: str | None, name: str, parents: tuple[str, ...] = ()) -> dict:
    fqn = ["anticipate", folder, name] if folder else ["anticipate", name]
    return {"resource_type": resource_type, "fqn": fqn, "depends_on": {"nodes": list(parents)}}


MANIFEST = {"nodes": {
    "seed.anticipate.event_types": _node("seed", None, "event_types"),
    "model.anticipate.stg_web_events": _node("model", "staging", "stg_web_events", ("seed.anticipate.event_types",)),
    "model.anticipate.int_sessions": _node("model", "intermediate", "int_sessions", ("model.anticipate.stg_web_events",)),
    "model.anticipate.dim_customers": _node("model", "marts", "dim_customers"),
    "model.anticipate.customer_labels": _node("model", "ml", "customer_labels", ("model.anticipate.dim_customers",)),
    "test.anticipate.unique_stg_web_events_event_id": _node("test", "staging", "unique", ("model.anticipate.stg_web_events",)),
    # a relationships test between layers runs once both are built: it counts with the later one
    "test.anticipate.relationships_labels_customers": _node(
        "test", "ml", "relationships", ("model.anticipate.dim_customers", "model.anticipate.customer_labels")),
    "model.anticipate.customer_predictions": _node("model", "predictions", "customer_predictions"),
    # tests on sources: the raw tables' run with staging, the prediction tables' are not part of the build
    "test.anticipate.source_not_null_raw_web_events": _node("test", "staging", "not_null", ("source.anticipate.raw.web_events",)),
    "test.anticipate.source_not_null_churn_scores": _node(
        "test", "predictions", "not_null", ("source.anticipate.predictions.churn_scores",)),
}, "sources": {
    "source.anticipate.raw.web_events": {"schema": "raw"},
    "source.anticipate.predictions.churn_scores": {"schema": "predictions"},
}}


def test_models_and_tests_add_up_per_layer_with_seeds_and_raw_as_staging_and_tests_in_their_latest_layer():
    results = {"results": [
        {"unique_id": "seed.anticipate.event_types", "execution_time": 0.5},
        {"unique_id": "model.anticipate.stg_web_events", "execution_time": 80.0},
        {"unique_id": "test.anticipate.unique_stg_web_events_event_id", "execution_time": 13.0},
        {"unique_id": "model.anticipate.int_sessions", "execution_time": 90.0},
        {"unique_id": "model.anticipate.dim_customers", "execution_time": 4.0},
        {"unique_id": "model.anticipate.customer_labels", "execution_time": 10.0},
        {"unique_id": "test.anticipate.relationships_labels_customers", "execution_time": 2.5},
        # outside the four layers, or not a node of the manifest (a unit test): not counted
        {"unique_id": "model.anticipate.customer_predictions", "execution_time": 7.0},
        {"unique_id": "unit_test.anticipate.stg_web_events.dedup", "execution_time": 1.0},
        {"unique_id": "test.anticipate.source_not_null_raw_web_events", "execution_time": 2.0},
        {"unique_id": "test.anticipate.source_not_null_churn_scores", "execution_time": 0.5},
    ]}
    assert layer_seconds(results, MANIFEST) == {
        "staging": (80.5, 15.0), "intermediate": (90.0, 0.0), "marts": (4.0, 0.0), "ml": (10.0, 2.5),
    }
