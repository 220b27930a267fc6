{#- Point-in-time labels: one row per customer per as-of date of customer_features_snapshot, each label
    looking only at orders dated on or after the as-of date and before as_of_date + H. A label whose
    window reaches past the latest order date is null: the future is not observed yet, and an unobserved
    window would read as "no purchase". Horizons are dbt vars so the orchestration can move them. -#}

{%- set churn_days = var('churn_horizon_days', 90) | int %}
{%- set propensity_days = var('propensity_horizon_days', 30) | int %}
{%- set revenue_days = var('revenue_horizon_days', 90) | int %}
{%- for name, days in [('churn_horizon_days', churn_days), ('propensity_horizon_days', propensity_days), ('revenue_horizon_days', revenue_days)] %}
    {%- if days < 1 %}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be an integer >= 1, got " ~ days) }}
    {%- endif %}
{%- endfor %}

{{ config(schema='ml', materialized='table') }}

with

snapshot_rows as (

    select customer_id, as_of_date, purchase_orders_365d from {{ ref('customer_features_snapshot') }}

),

orders as (

    select customer_id, ordered_date, is_purchase, net_revenue from {{ ref('fct_orders') }}

),

data_dates as (

    select latest_order_date from {{ ref('int_data_dates_summarized') }}

),

-- orders up to the longest horizon after each as-of date; the label CTE narrows each window
orders_after_as_of as (

    select
        snapshot_rows.customer_id,
        snapshot_rows.as_of_date,
        date_diff('day', snapshot_rows.as_of_date, orders.ordered_date) as days_after_as_of,
        orders.is_purchase,
        orders.net_revenue,
    from snapshot_rows
    inner join orders
        on snapshot_rows.customer_id = orders.customer_id
        and orders.ordered_date >= snapshot_rows.as_of_date
        and orders.ordered_date < snapshot_rows.as_of_date + {{ [churn_days, propensity_days, revenue_days] | max }}

),

outcomes_aggregated as (

    select
        customer_id,
        as_of_date,
        count(*) filter (where is_purchase and days_after_as_of < {{ churn_days }}) as purchases_in_churn_window,
        count(*) filter (where is_purchase and days_after_as_of < {{ propensity_days }}) as purchases_in_propensity_window,
        sum(case when days_after_as_of < {{ revenue_days }} then net_revenue end) as revenue_in_revenue_window,
    from orders_after_as_of
    group by customer_id, as_of_date

),

labelled as (

    select
        snapshot_rows.customer_id,
        snapshot_rows.as_of_date,
        data_dates.latest_order_date as label_data_end_date,
        snapshot_rows.purchase_orders_365d > 0 as is_active_prior_year,
        -- churn is defined only for customers who bought in the year before the as-of date
        case
            when snapshot_rows.as_of_date + {{ churn_days }} > data_dates.latest_order_date then null
            when snapshot_rows.purchase_orders_365d = 0 then null
            else coalesce(outcomes_aggregated.purchases_in_churn_window, 0) = 0
        end as churned_{{ churn_days }}d,
        case
            when snapshot_rows.as_of_date + {{ propensity_days }} > data_dates.latest_order_date then null
            else coalesce(outcomes_aggregated.purchases_in_propensity_window, 0) > 0
        end as purchases_in_{{ propensity_days }}d,
        cast(
            case
                when snapshot_rows.as_of_date + {{ revenue_days }} > data_dates.latest_order_date then null
                else coalesce(outcomes_aggregated.revenue_in_revenue_window, 0)
            end as double
        ) as revenue_in_{{ revenue_days }}d,
    from snapshot_rows
    cross join data_dates
    left join outcomes_aggregated
        on snapshot_rows.customer_id = outcomes_aggregated.customer_id
        and snapshot_rows.as_of_date = outcomes_aggregated.as_of_date

)

select * from labelled
