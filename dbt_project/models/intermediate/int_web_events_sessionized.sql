{#- Sessions are rebuilt from events with one inactivity rule for every tracker: a visitor's next event
    more than `session_timeout_minutes` after the previous one starts a new session (exactly the timeout
    stays in the session). A visitor is the customer when logged in, else the anonymous id. -#}

with

events as (

    select * from {{ ref('stg_web_events') }}

),

-- only the columns sessions need: the two windows below sort every column they carry
events_with_visitor as (

    select
        event_id,
        customer_id,
        anonymous_id,
        event_type,
        device,
        referrer,
        occurred_at,
        coalesce(
            'customer:' || customer_id,
            'anonymous:' || anonymous_id,
            'tracker-session:' || tracker_session_id,
            'event:' || event_id
        ) as visitor_key,
    from events

),

events_with_gap as (

    select
        *,
        lag(occurred_at) over (
            partition by visitor_key order by occurred_at, event_id
        ) as previous_occurred_at,
    from events_with_visitor

),

events_flagged as (

    select
        *,
        case
            when previous_occurred_at is null then 1
            when occurred_at - previous_occurred_at
                > to_minutes(cast({{ var('session_timeout_minutes') }} as bigint)) then 1
            else 0
        end as is_session_start,
    from events_with_gap

),

events_numbered as (

    select
        *,
        sum(is_session_start) over (
            partition by visitor_key order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as visitor_session_number,
    from events_flagged

),

sessions_aggregated as (

    select
        visitor_key,
        visitor_session_number,
        any_value(customer_id) as customer_id,
        arg_min(anonymous_id, occurred_at) as anonymous_id,
        arg_min(device, occurred_at) as device,
        arg_min(referrer, occurred_at) as referrer,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        count(*) as event_count,
        count(*) filter (where event_type = 'page_view') as page_view_count,
        count(*) filter (where event_type = 'product_view') as product_view_count,
        count(*) filter (where event_type = 'add_to_cart') as add_to_cart_count,
        count(*) filter (where event_type = 'checkout') as checkout_count,
        count(*) filter (where event_type = 'purchase') as purchase_count,
    from events_numbered
    group by visitor_key, visitor_session_number

),

sessions as (

    select
        -- keyed on the visitor and the first event, so later data never renames an existing session
        md5(visitor_key || '|' || cast(started_at as varchar)) as session_id,
        visitor_key,
        customer_id,
        anonymous_id,
        customer_id is null as is_anonymous,
        device,
        referrer,
        started_at,
        ended_at,
        cast(started_at as date) as started_date,
        cast(date_diff('second', started_at, ended_at) as bigint) as duration_seconds,
        event_count,
        page_view_count,
        product_view_count,
        add_to_cart_count,
        checkout_count,
        purchase_count,
    from sessions_aggregated

)

select * from sessions
