{#- One row per customer per day with any activity: the pre-aggregated facts the feature macro joins to
    the as-of dates with range conditions, so features never scan raw events once per as-of date. -#}

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
    where customer_id is not null
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
    where is_purchase_line and customer_id is not null
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
    where customer_id is not null
    group by 1, 2

),

browsing_days as (

    select
        customer_id,
        occurred_date as activity_date,
        count(*) filter (where event_type = 'product_view') as product_views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
    from web_events
    where customer_id is not null
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
    where customer_id is not null
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
    where customer_id is not null
    group by 1, 2

),

unioned as (

    select * from order_days
    union all by name
    select * from order_line_days
    union all by name
    select * from session_days
    union all by name
    select * from browsing_days
    union all by name
    select * from marketing_days
    union all by name
    select * from review_days

),

aggregated as (

    select
        customer_id,
        activity_date,
        cast(coalesce(sum(orders_placed), 0) as bigint) as orders_placed,
        cast(coalesce(sum(purchase_orders), 0) as bigint) as purchase_orders,
        cast(coalesce(sum(net_revenue), 0) as double) as net_revenue,
        cast(coalesce(sum(units_purchased), 0) as double) as units_purchased,
        cast(coalesce(sum(units_returned), 0) as double) as units_returned,
        cast(coalesce(sum(purchase_lines), 0) as bigint) as purchase_lines,
        cast(coalesce(sum(discounted_purchase_lines), 0) as bigint) as discounted_purchase_lines,
        cast(coalesce(sum(line_discount_rate_sum), 0) as double) as line_discount_rate_sum,
        cast(coalesce(sum(line_discount_rate_count), 0) as bigint) as line_discount_rate_count,
        cast(coalesce(sum(sessions), 0) as bigint) as sessions,
        cast(coalesce(sum(session_seconds), 0) as double) as session_seconds,
        cast(coalesce(sum(product_views), 0) as bigint) as product_views,
        cast(coalesce(sum(add_to_carts), 0) as bigint) as add_to_carts,
        cast(coalesce(sum(email_opens), 0) as bigint) as email_opens,
        cast(coalesce(sum(email_clicks), 0) as bigint) as email_clicks,
        cast(coalesce(sum(social_interactions), 0) as bigint) as social_interactions,
        cast(coalesce(sum(sentiment_sum), 0) as double) as sentiment_sum,
        cast(coalesce(sum(sentiment_count), 0) as bigint) as sentiment_count,
        cast(coalesce(sum(reviews), 0) as bigint) as reviews,
        cast(coalesce(sum(rating_sum), 0) as double) as rating_sum,
        cast(coalesce(sum(rating_count), 0) as bigint) as rating_count,
    from unioned
    group by customer_id, activity_date

)

select * from aggregated
