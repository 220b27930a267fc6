-- How many customers each as-of date holds and how many of them have each kind of signal: a quick look
-- at whether the optional sources (web events, marketing, reviews) reach the features.
-- Compile with `dbt compile --select feature_coverage_by_as_of_date` and run the SQL in target/compiled.

with

features as (

    select * from {{ ref('customer_features_snapshot') }}

),

coverage as (

    select
        as_of_date,
        count(*) as customers,
        count(*) filter (where purchase_orders_lifetime > 0) as with_purchases,
        count(*) filter (where sessions_90d > 0) as with_sessions_90d,
        count(*) filter (where email_opens_90d + email_clicks_90d + social_interactions_90d > 0) as with_engagement_90d,
        count(*) filter (where reviews_lifetime > 0) as with_reviews,
        round(avg(net_revenue_lifetime), 2) as average_net_revenue_lifetime,
    from features
    group by as_of_date

)

select * from coverage order by as_of_date
