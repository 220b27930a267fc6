"""The floor of the warehouse benchmark: one hand-written DuckDB statement that computes the same table as
`marts.customer_features_current` straight from the `raw` tables (and the code-mapping seeds in
`staging`), the way an analyst would write it without dbt's layers.

    python -m benchmarks.handwritten_features warehouse/anticipate.duckdb

The result goes to a temporary table, so the warehouse is left unchanged. The scoring date is the day
after the latest dated fact, so every fact counts as "before" it and the windows are plain date ranges.
`tests/test_handwritten_features.py` checks that it matches the dbt build value for value.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

#: Same value as the `session_timeout_minutes` var in dbt_project.yml (a longer gap starts a new session).
SESSION_TIMEOUT_MINUTES = 30

#: Latest version of a key: the later batch, then the later row of the file (customers and products first
#: order by their own `updated_at`), as staging's latest_version_order macro does.
_LATEST_LOAD = "_loaded_at desc nulls last, _row_number desc nulls last"

_CURRENT_FEATURES_SQL = f"""
create or replace temp table handwritten_features as

with

-- latest version of every record, ids trimmed (an empty id is none), timestamps as UTC dates
customers as (

    select customer_id, signup_date
    from (
        select
            nullif(trim(customer_id), '') as customer_id,
            cast(timezone('UTC', signup_at) as date) as signup_date,
            updated_at, _loaded_at, _row_number,
        from raw.customers
    )
    where customer_id is not null
    qualify row_number() over (partition by customer_id order by updated_at desc nulls last, {_LATEST_LOAD}) = 1

),

product_categories as (

    select product_id, category
    from (
        select
            nullif(trim(product_id), '') as product_id,
            lower(nullif(trim(category), '')) as category,
            updated_at, _loaded_at, _row_number,
        from raw.products
    )
    where product_id is not null
    qualify row_number() over (partition by product_id order by updated_at desc nulls last, {_LATEST_LOAD}) = 1

),

orders as (

    select * exclude (_loaded_at, _row_number)
    from (
        select
            nullif(trim(order_id), '') as order_id,
            nullif(trim(customer_id), '') as customer_id,
            lower(trim(status)) as status,
            coalesce(discount_amount, 0) as order_discount_amount,
            cast(timezone('UTC', ordered_at) as date) as ordered_date,
            _loaded_at, _row_number,
        from raw.orders
    )
    where order_id is not null
    qualify row_number() over (partition by order_id order by {_LATEST_LOAD}) = 1

),

order_items as (

    select * exclude (line_number, _loaded_at, _row_number)
    from (
        select
            nullif(trim(order_id), '') as order_id,
            nullif(trim(product_id), '') as product_id,
            -- ingestion fills a missing line number from row order; this covers an export that slipped through
            coalesce(
                line_number,
                row_number() over (partition by nullif(trim(order_id), ''), _batch_id order by _row_number)
            ) as line_number,
            coalesce(quantity, 0) as quantity,
            coalesce(unit_price, 0) as unit_price,
            coalesce(discount_amount, 0) as line_discount_amount,
            _loaded_at, _row_number,
        from raw.order_items
    )
    where order_id is not null
    qualify row_number() over (partition by order_id, line_number order by {_LATEST_LOAD}) = 1

),

web_events as (

    select * exclude (_loaded_at, _row_number)
    from (
        select
            nullif(trim(event_id), '') as event_id,
            nullif(trim(customer_id), '') as customer_id,
            lower(trim(event_type)) as event_type,
            cast(timezone('UTC', occurred_at) as timestamp) as occurred_at,
            _loaded_at, _row_number,
        from raw.web_events
    )
    where event_id is not null
    qualify row_number() over (partition by event_id order by {_LATEST_LOAD}) = 1

),

marketing as (

    select * exclude (_loaded_at, _row_number)
    from (
        select
            nullif(trim(interaction_id), '') as interaction_id,
            nullif(trim(customer_id), '') as customer_id,
            lower(trim(channel)) as channel,
            lower(trim(interaction_type)) as interaction_type,
            sentiment,
            cast(timezone('UTC', occurred_at) as date) as occurred_date,
            _loaded_at, _row_number,
        from raw.marketing_interactions
    )
    where interaction_id is not null
    qualify row_number() over (partition by interaction_id order by {_LATEST_LOAD}) = 1

),

reviews as (

    select * exclude (_loaded_at, _row_number)
    from (
        select
            nullif(trim(review_id), '') as review_id,
            nullif(trim(customer_id), '') as customer_id,
            rating,
            cast(timezone('UTC', reviewed_at) as date) as reviewed_date,
            _loaded_at, _row_number,
        from raw.product_reviews
    )
    where review_id is not null
    qualify row_number() over (partition by review_id order by {_LATEST_LOAD}) = 1

),

-- the day after the latest dated fact; none (so no rows) while the warehouse holds no dated fact
scoring_date as (

    select
        cast(greatest(
            (select max(ordered_date) from orders),
            (select max(signup_date) from customers),
            (select max(cast(occurred_at as date)) from web_events),
            (select max(occurred_date) from marketing),
            (select max(reviewed_date) from reviews)
        ) + 1 as date) as as_of_date,

),

orders_with_status as (

    select
        orders.*,
        -- an order without a status counts as placed: it was exported, so it exists
        coalesce(order_statuses.is_revenue, orders.status is null) as is_revenue,
        coalesce(order_statuses.is_cancelled, false) as is_cancelled,
        coalesce(order_statuses.is_fully_returned, false) as is_fully_returned,
    from orders
    left join staging.order_statuses as order_statuses
        on orders.status = order_statuses.status

),

order_lines as (

    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_date,
        coalesce(product_categories.category, 'unknown') as category,
        order_items.quantity,
        order_items.unit_price,
        order_items.line_discount_amount,
        orders.order_discount_amount > 0 as has_order_discount,
        orders.is_revenue and order_items.quantity > 0 as is_purchase_line,
    from order_items
    inner join orders_with_status as orders
        on order_items.order_id = orders.order_id
    left join product_categories
        on order_items.product_id = product_categories.product_id

),

purchase_lines as (

    select * from order_lines where is_purchase_line

),

order_line_totals as (

    select
        order_id,
        count(*) as line_count,
        count(*) filter (where quantity < 0) as return_line_count,
        coalesce(sum(quantity) filter (where quantity > 0), 0) as units_ordered,
        coalesce(-sum(quantity) filter (where quantity < 0), 0) as units_in_return_lines,
        -- goods net of their line discounts, less what return lines refund (also net of their discount)
        sum(quantity * unit_price - sign(quantity) * line_discount_amount) as net_line_amount,
    from order_items
    group by order_id

),

orders_netted as (

    select
        orders.customer_id,
        orders.ordered_date,
        -- orders that are not revenue (cancelled, returned) net to zero
        case
            when orders.is_revenue then coalesce(order_line_totals.net_line_amount, 0) - orders.order_discount_amount
            else 0
        end as net_revenue,
        -- a purchase: revenue status, not returned whole and not made only of return lines
        orders.is_revenue
            and not orders.is_fully_returned
            and not (order_line_totals.line_count > 0 and order_line_totals.return_line_count = order_line_totals.line_count)
            as is_purchase,
        -- units of orders that went out; an order returned whole sends back every unit it had
        case when orders.is_cancelled then 0 else coalesce(order_line_totals.units_ordered, 0) end as units_purchased,
        case
            when orders.is_cancelled then 0
            when orders.is_fully_returned
                then greatest(coalesce(order_line_totals.units_ordered, 0), coalesce(order_line_totals.units_in_return_lines, 0))
            else coalesce(order_line_totals.units_in_return_lines, 0)
        end as units_returned,
    from orders_with_status as orders
    left join order_line_totals
        on orders.order_id = order_line_totals.order_id
    where orders.customer_id is not null

),

order_features as (

    select
        orders_netted.customer_id,
        min(orders_netted.ordered_date) as first_order_date,
        max(orders_netted.ordered_date) filter (where orders_netted.is_purchase) as last_purchase_date,
        count(*) filter (where orders_netted.is_purchase and orders_netted.ordered_date >= scoring_date.as_of_date - 30)
            as purchase_orders_30d,
        count(*) filter (where orders_netted.is_purchase and orders_netted.ordered_date >= scoring_date.as_of_date - 90)
            as purchase_orders_90d,
        count(*) filter (where orders_netted.is_purchase and orders_netted.ordered_date >= scoring_date.as_of_date - 365)
            as purchase_orders_365d,
        count(*) filter (where orders_netted.is_purchase) as purchase_orders_lifetime,
        sum(orders_netted.net_revenue) filter (where orders_netted.ordered_date >= scoring_date.as_of_date - 30)
            as net_revenue_30d,
        sum(orders_netted.net_revenue) filter (where orders_netted.ordered_date >= scoring_date.as_of_date - 90)
            as net_revenue_90d,
        sum(orders_netted.net_revenue) filter (where orders_netted.ordered_date >= scoring_date.as_of_date - 365)
            as net_revenue_365d,
        sum(orders_netted.net_revenue) as net_revenue_lifetime,
        sum(orders_netted.net_revenue) filter (
            where orders_netted.ordered_date >= scoring_date.as_of_date - 180
                and orders_netted.ordered_date < scoring_date.as_of_date - 90
        ) as net_revenue_prev_90d,
        sum(orders_netted.units_purchased) as units_purchased,
        sum(orders_netted.units_returned) as units_returned,
    from orders_netted
    cross join scoring_date
    group by orders_netted.customer_id

),

line_features as (

    select
        customer_id,
        count(*) as purchase_lines,
        count(*) filter (where line_discount_amount > 0 or has_order_discount) as discounted_purchase_lines,
        avg(case when quantity * unit_price > 0 then line_discount_amount / (quantity * unit_price) end)
            as average_line_discount_rate,
    from purchase_lines
    where customer_id is not null
    group by customer_id

),

customer_category_spend as (

    select
        customer_id,
        category,
        sum(quantity * unit_price - line_discount_amount) as net_spend,
        count(*) as lines,
        sum(unit_price) as unit_price_sum,
    from purchase_lines
    where customer_id is not null
    group by customer_id, category

),

-- median unit price paid per category across every customer's purchase lines
category_median_prices as (

    select category, median(unit_price) as median_unit_price,
    from purchase_lines
    group by category

),

category_features as (

    select
        customer_category_spend.customer_id,
        -- most net spend; a tie goes to the alphabetically first category
        -- (compared to the micro-unit, as dbt does: summation order must not break a tie)
        arg_min(customer_category_spend.category, (-round(customer_category_spend.net_spend, 6), customer_category_spend.category))
            as top_category,
        -- share of positive spend: a category netted negative by discounts must not push the share past 1
        case when max(customer_category_spend.net_spend) > 0
            then max(customer_category_spend.net_spend) / sum(greatest(customer_category_spend.net_spend, 0)) end
            as top_category_spend_share,
        -- unit prices paid relative to each category's median, per line, over categories with a positive median
        sum(customer_category_spend.unit_price_sum / category_median_prices.median_unit_price)
                filter (where category_median_prices.median_unit_price > 0)
            / sum(customer_category_spend.lines) filter (where category_median_prices.median_unit_price > 0)
            as price_to_category_median_ratio,
    from customer_category_spend
    inner join category_median_prices
        on customer_category_spend.category = category_median_prices.category
    group by customer_category_spend.customer_id

),

customer_events as (

    select
        customer_id,
        event_type,
        occurred_at,
        -- whole seconds since the epoch: a session lasts date_diff('second', first, last) = last - first of these
        date_diff('second', timestamp '1970-01-01', occurred_at) as epoch_second,
        -- a session starts after a gap longer than the timeout, and ends before one (or at the last event)
        coalesce(occurred_at - lag(occurred_at) over visits > to_minutes({SESSION_TIMEOUT_MINUTES}), true)
            as is_session_start,
        coalesce(lead(occurred_at) over visits - occurred_at > to_minutes({SESSION_TIMEOUT_MINUTES}), true)
            as is_session_end,
    from web_events
    where customer_id is not null
    window visits as (partition by customer_id order by occurred_at, event_id)

),

-- events of the last 90 days, and the session starts before them (one may open a session that ends inside)
customer_events_near_window as (

    select
        customer_events.*,
        customer_events.occurred_at >= cast(scoring_date.as_of_date - 90 as timestamp) as is_in_window,
    from customer_events
    cross join scoring_date
    where customer_events.is_session_start
        or customer_events.occurred_at >= cast(scoring_date.as_of_date - 90 as timestamp)

),

-- sessions that ENDED in the last 90 days, as dbt counts them (a session belongs to the day of its last
-- event, so its duration never reaches past the as-of date), without numbering them: their ends are the
-- ends in the window; their starts are the starts in the window plus, when a session straddles the
-- window's start (ends then outnumber starts by one), the latest start before the window. Their total
-- length is a difference of sums.
browsing_features as (

    select
        customer_id,
        count(*) filter (where is_session_end and is_in_window) as sessions_90d,
        sum(epoch_second) filter (where is_session_end and is_in_window)
            - coalesce(sum(epoch_second) filter (where is_session_start and is_in_window), 0)
            - case
                when count(*) filter (where is_session_end and is_in_window)
                    > count(*) filter (where is_session_start and is_in_window)
                    then max(epoch_second) filter (where is_session_start and not is_in_window)
                else 0
            end
            as session_seconds_90d,
        count(*) filter (where event_type = 'product_view' and is_in_window) as product_views_90d,
        count(*) filter (where event_type = 'add_to_cart' and is_in_window) as add_to_carts_90d,
    from customer_events_near_window
    group by customer_id

),

engagement_features as (

    select
        marketing.customer_id,
        count(*) filter (where marketing_channels.channel_group = 'email' and marketing.interaction_type = 'open')
            as email_opens_90d,
        count(*) filter (where marketing_channels.channel_group = 'email' and marketing.interaction_type = 'click')
            as email_clicks_90d,
        count(*) filter (where marketing_channels.channel_group = 'social' and interaction_types.is_engagement)
            as social_interactions_90d,
        avg(marketing.sentiment) as mean_sentiment_90d,
    from marketing
    cross join scoring_date
    left join staging.marketing_channels as marketing_channels
        on marketing.channel = marketing_channels.channel
    left join staging.marketing_interaction_types as interaction_types
        on marketing.interaction_type = interaction_types.interaction_type
    where marketing.customer_id is not null
        and marketing.occurred_date >= scoring_date.as_of_date - 90
    group by marketing.customer_id

),

review_features as (

    select
        customer_id,
        count(*) as reviews_lifetime,
        avg(rating) as mean_rating_lifetime,
    from reviews
    where customer_id is not null
    group by customer_id

),

features as (

    select
        customers.customer_id,
        scoring_date.as_of_date,
        false as is_placeholder,

        -- tenure counts from sign-up, or from the first order for customers without a sign-up date
        cast(date_diff('day', least(customers.signup_date, order_features.first_order_date), scoring_date.as_of_date)
            as bigint) as tenure_days,

        -- recency, frequency, monetary
        cast(date_diff('day', order_features.last_purchase_date, scoring_date.as_of_date) as bigint)
            as days_since_last_purchase,
        cast(coalesce(order_features.purchase_orders_30d, 0) as bigint) as purchase_orders_30d,
        cast(coalesce(order_features.net_revenue_30d, 0) as double) as net_revenue_30d,
        cast(coalesce(order_features.purchase_orders_90d, 0) as bigint) as purchase_orders_90d,
        cast(coalesce(order_features.net_revenue_90d, 0) as double) as net_revenue_90d,
        cast(coalesce(order_features.purchase_orders_365d, 0) as bigint) as purchase_orders_365d,
        cast(coalesce(order_features.net_revenue_365d, 0) as double) as net_revenue_365d,
        cast(coalesce(order_features.purchase_orders_lifetime, 0) as bigint) as purchase_orders_lifetime,
        cast(coalesce(order_features.net_revenue_lifetime, 0) as double) as net_revenue_lifetime,
        cast(order_features.net_revenue_lifetime / nullif(order_features.purchase_orders_lifetime, 0) as double)
            as average_order_value,
        cast(coalesce(order_features.net_revenue_prev_90d, 0) as double) as net_revenue_prev_90d,
        cast(coalesce(order_features.net_revenue_90d, 0) - coalesce(order_features.net_revenue_prev_90d, 0) as double)
            as revenue_trend_90d,

        -- category affinity and price sensitivity
        cast(category_features.top_category as varchar) as top_category,
        cast(category_features.top_category_spend_share as double) as top_category_spend_share,
        cast(line_features.discounted_purchase_lines / nullif(line_features.purchase_lines, 0) as double)
            as discounted_line_share,
        cast(line_features.average_line_discount_rate as double) as average_line_discount_rate,
        cast(category_features.price_to_category_median_ratio as double) as price_to_category_median_ratio,

        -- browsing, last 90 days
        cast(coalesce(browsing_features.sessions_90d, 0) as bigint) as sessions_90d,
        cast(coalesce(browsing_features.product_views_90d, 0) as bigint) as product_views_90d,
        cast(coalesce(browsing_features.add_to_carts_90d, 0) as bigint) as add_to_carts_90d,
        cast(browsing_features.add_to_carts_90d / nullif(browsing_features.product_views_90d, 0) as double)
            as add_to_cart_rate_90d,
        cast(browsing_features.session_seconds_90d / 60 / nullif(browsing_features.sessions_90d, 0) as double)
            as average_session_minutes_90d,

        -- engagement, last 90 days
        cast(coalesce(engagement_features.email_opens_90d, 0) as bigint) as email_opens_90d,
        cast(coalesce(engagement_features.email_clicks_90d, 0) as bigint) as email_clicks_90d,
        cast(coalesce(engagement_features.social_interactions_90d, 0) as bigint) as social_interactions_90d,
        cast(engagement_features.mean_sentiment_90d as double) as mean_sentiment_90d,

        -- reviews and returns, lifetime
        cast(coalesce(review_features.reviews_lifetime, 0) as bigint) as reviews_lifetime,
        cast(review_features.mean_rating_lifetime as double) as mean_rating_lifetime,
        cast(coalesce(order_features.units_purchased, 0) as double) as units_purchased_lifetime,
        cast(coalesce(order_features.units_returned, 0) as double) as units_returned_lifetime,
        cast(order_features.units_returned / nullif(order_features.units_purchased, 0) as double)
            as return_rate_lifetime,

    from customers
    inner join scoring_date
        on scoring_date.as_of_date is not null
    left join order_features on customers.customer_id = order_features.customer_id
    left join line_features on customers.customer_id = line_features.customer_id
    left join category_features on customers.customer_id = category_features.customer_id
    left join browsing_features on customers.customer_id = browsing_features.customer_id
    left join engagement_features on customers.customer_id = engagement_features.customer_id
    left join review_features on customers.customer_id = review_features.customer_id

)

select * from features
"""


def handwritten_current_features_sql() -> str:
    """The statement that (re)creates the temporary table `handwritten_features` on the connection it runs on."""
    return _CURRENT_FEATURES_SQL


def build_handwritten_features(connection: duckdb.DuckDBPyConnection) -> int:
    """Run the statement on an open warehouse connection; return the number of customer rows."""
    connection.execute(handwritten_current_features_sql())
    return connection.execute("select count(*) from handwritten_features").fetchone()[0]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m benchmarks.handwritten_features <warehouse.duckdb>")
    warehouse = Path(args[0])
    if not warehouse.is_file():
        raise SystemExit(f"warehouse not found: {warehouse}")
    # read-only: the statement writes only a temporary table, and the warehouse file stays as it was
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        started = time.perf_counter()
        rows = build_handwritten_features(connection)
        seconds = time.perf_counter() - started
    print(f"hand-written current features: {rows:,} rows in {seconds:.2f} s")


if __name__ == "__main__":
    main()
