{#- The prediction tables are written by the scoring assets (ml/prediction_tables.py holds the same column
    lists; tests/dbt/test_prediction_models.py checks both agree). Creating them empty when missing lets
    `dbt build` run, and the models over them build, before any model has scored. Runs on-run-start. -#}
{% macro create_prediction_tables() -%}
    {%- if execute and target.type == 'duckdb' %}
        create schema if not exists predictions;
        create table if not exists predictions.churn_scores (
            customer_id varchar,
            scored_at timestamp with time zone,
            model_version varchar,
            churn_probability double,
            risk_band varchar,
            top_drivers json
        );
        create table if not exists predictions.purchase_propensity (
            customer_id varchar,
            horizon_days integer,
            probability double,
            scored_at timestamp with time zone,
            model_version varchar
        );
        create table if not exists predictions.customer_lifetime_value (
            customer_id varchar,
            horizon_days integer,
            expected_purchases double,
            expected_revenue double,
            p_alive double,
            scored_at timestamp with time zone,
            model_version varchar
        );
        create table if not exists predictions.next_best_products (
            customer_id varchar,
            "rank" integer,
            product_id varchar,
            score double,
            reason varchar,
            model_version varchar,
            scored_at timestamp with time zone
        );
        create table if not exists predictions.similar_products (
            product_id varchar,
            "rank" integer,
            similar_product_id varchar,
            score double,
            model_version varchar,
            scored_at timestamp with time zone
        );
    {%- else %}
        select 1
    {%- endif %}
{%- endmacro %}
