{#- A single row: the first order and the latest dated fact in the warehouse. The snapshot spine and the
    scoring date of customer_features_current are derived from it. -#}

with

orders as (

    select * from {{ ref('stg_orders') }}

),

customers as (

    select * from {{ ref('stg_customers') }}

),

web_events as (

    select * from {{ ref('stg_web_events') }}

),

marketing as (

    select * from {{ ref('stg_marketing_interactions') }}

),

reviews as (

    select * from {{ ref('stg_product_reviews') }}

),

summarized as (

    select
        (select min(ordered_date) from orders) as first_order_date,
        (select max(ordered_date) from orders) as latest_order_date,
        -- greatest skips nulls, so an empty optional source does not blank the date
        greatest(
            (select max(ordered_date) from orders),
            (select max(signup_date) from customers),
            (select max(occurred_date) from web_events),
            (select max(occurred_date) from marketing),
            (select max(reviewed_date) from reviews)
        ) as latest_data_date,

)

select
    first_order_date,
    latest_order_date,
    latest_data_date,
    -- the day after the latest data, so everything up to and including that day counts as "before"
    cast(latest_data_date + 1 as date) as scoring_as_of_date,
from summarized
