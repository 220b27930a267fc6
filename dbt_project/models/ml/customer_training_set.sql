{#- The models' training rows: every feature of customer_features_snapshot beside the labels of
    customer_labels, for as-of dates where at least one label is observed. A model keeps the rows whose
    own target is not null; features stay strictly before as_of_date, labels on or after it. -#}

{{ config(schema='ml', materialized='table') }}

with

features as (

    select * from {{ ref('customer_features_snapshot') }}

),

labels as (

    select * from {{ ref('customer_labels') }}

),

features_joined_to_labels as (

    select
        features.*,
        labels.* exclude (customer_id, as_of_date),
    from features
    inner join labels
        on features.customer_id = labels.customer_id
        and features.as_of_date = labels.as_of_date

)

select * from features_joined_to_labels
where
    churned_{{ var('churn_horizon_days', 90) | int }}d is not null
    or purchases_in_{{ var('propensity_horizon_days', 30) | int }}d is not null
    or revenue_in_{{ var('revenue_horizon_days', 90) | int }}d is not null
