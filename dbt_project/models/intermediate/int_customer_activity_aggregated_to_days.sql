{#- One row per customer per day with any activity: the pre-aggregated facts the feature macro sums per
    period between as-of dates (lifetime totals) and joins to the as-of dates its windows cover, so features
    never scan raw events once per as-of date. -#}

with

orders as (

    select * from {{ ref('int_orders_netted') }}

),

order_lines as (

    select * from {{ ref('int_order_items_joined_to_orders') }}

),

sessions as (

    select * from {{ ref('int_web_events_sessionized') }}

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

order_days as (

    select
        customer_id,
        ordered_date as activity_date,
        count(*) as orders_placed,
        count(*) filter (where is_purchase) as purchase_orders,
        sum(net_revenue) as net_revenue,
        -- units bought in orders that went out (returned whole orders went out too, then came back)
        sum(case when not is_cancelled then units_ordered else 0 end) as units_purchased,
        sum(case when not is_cancelled then units_returned else 0 end) as units_returned,
    from orders
    where customer_id is not null and ordered_date is not null
    group by 1, 2

),

order_line_days as (

    select
        customer_id,
        ordered_date as activity_date,
        count(*) as purchase_lines,
        count(*) filter (where line_discount_amount > 0 or has_order_discount) as discounted_purchase_lines,
        sum(line_discount_rate) as line_discount_rate_sum,
        count(line_discount_rate) as line_discount_rate_count,
    from order_lines
    where is_purchase_line and customer_id is not null and ordered_date is not null
    group by 1, 2

),

-- a session belongs to the day it ENDS: its duration includes its last event, so a session running
-- past midnight into the as-of date must not count for that date (point in time)
session_days as (

    select
        customer_id,
        cast(ended_at as date) as activity_date,
        count(*) as sessions,
        sum(duration_seconds) as session_seconds,
    from sessions
    where customer_id is not null and ended_at is not null
    group by 1, 2

),

browsing_days as (

    select
        customer_id,
        occurred_date as activity_date,
        count(*) filter (where event_type = 'product_view') as product_views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
    from web_events
    where customer_id is not null and occurred_date is not null
    group by 1, 2

),

marketing_days as (

    select
        customer_id,
        occurred_date as activity_date,
        count(*) filter (where channel_group = 'email' and interaction_type = 'open') as email_opens,
        count(*) filter (where channel_group = 'email' and interaction_type = 'click') as email_clicks,
        count(*) filter (where channel_group = 'social' and is_engagement) as social_interactions,
        sum(sentiment_score) as sentiment_sum,
        count(sentiment_score) as sentiment_count,
    from marketing
    where customer_id is not null and occurred_date is not null
    group by 1, 2

),

review_days as (

    select
        customer_id,
        reviewed_date as activity_date,
        count(*) as reviews,
        sum(rating) as rating_sum,
        count(rating) as rating_count,
    from reviews
    where customer_id is not null and reviewed_date is not null
    group by 1, 2

),

-- Each part holds at most one row per customer and day (days are never null: the join could not match them), so a full outer join on the key puts them side
-- by side. (A union of the parts grouped again took twice as long: a hash aggregate with one state per
-- column and day for every row is far heavier than joining the few parts that have the day.)
joined as (

    select
        customer_id,
        activity_date,
        cast(coalesce(order_days.orders_placed, 0) as bigint) as orders_placed,
        cast(coalesce(order_days.purchase_orders, 0) as bigint) as purchase_orders,
        cast(coalesce(order_days.net_revenue, 0) as double) as net_revenue,
        cast(coalesce(order_days.units_purchased, 0) as double) as units_purchased,
        cast(coalesce(order_days.units_returned, 0) as double) as units_returned,
        cast(coalesce(order_line_days.purchase_lines, 0) as bigint) as purchase_lines,
        cast(coalesce(order_line_days.discounted_purchase_lines, 0) as bigint) as discounted_purchase_lines,
        cast(coalesce(order_line_days.line_discount_rate_sum, 0) as double) as line_discount_rate_sum,
        cast(coalesce(order_line_days.line_discount_rate_count, 0) as bigint) as line_discount_rate_count,
        cast(coalesce(session_days.sessions, 0) as bigint) as sessions,
        cast(coalesce(session_days.session_seconds, 0) as double) as session_seconds,
        cast(coalesce(browsing_days.product_views, 0) as bigint) as product_views,
        cast(coalesce(browsing_days.add_to_carts, 0) as bigint) as add_to_carts,
        cast(coalesce(marketing_days.email_opens, 0) as bigint) as email_opens,
        cast(coalesce(marketing_days.email_clicks, 0) as bigint) as email_clicks,
        cast(coalesce(marketing_days.social_interactions, 0) as bigint) as social_interactions,
        cast(coalesce(marketing_days.sentiment_sum, 0) as double) as sentiment_sum,
        cast(coalesce(marketing_days.sentiment_count, 0) as bigint) as sentiment_count,
        cast(coalesce(review_days.reviews, 0) as bigint) as reviews,
        cast(coalesce(review_days.rating_sum, 0) as double) as rating_sum,
        cast(coalesce(review_days.rating_count, 0) as bigint) as rating_count,
    from order_days
    full outer join order_line_days using (customer_id, activity_date)
    full outer join session_days using (customer_id, activity_date)
    full outer join browsing_days using (customer_id, activity_date)
    full outer join marketing_days using (customer_id, activity_date)
    full outer join review_days using (customer_id, activity_date)

)

select * from joined
