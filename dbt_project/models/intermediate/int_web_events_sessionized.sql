{#- Sessions are rebuilt from events with one inactivity rule for every tracker: a visitor's next event
    more than `session_timeout_minutes` after the previous one starts a new session (exactly the timeout
    stays in the session). A visitor is the customer when logged in, else the anonymous id.

    Sorting the events is what costs (49.5M of them at 1M customers), so they are sorted once: one window
    pass marks each event as a session's first and/or last and keeps running counts; a session is then its
    last event, taking what it needs from its first. Only sessions of two or more events need that pairing,
    a second sort over their two boundary events alone. -#}

{%- set timeout = "to_minutes(cast(" ~ var('session_timeout_minutes') ~ " as bigint))" %}
{%- set counted_event_types = ['page_view', 'product_view', 'add_to_cart', 'checkout', 'purchase'] %}
{#- The five counts ride in one running sum, 25 bits each: DuckDB's cost is per windowed aggregate, and
    five running counts cost more CPU than the sort itself (at 1M customers: +54 CPU s against 39). A
    session's counts are a difference of two running sums, so only counts within one session must fit
    their 25 bits; a session of more events fails the build, naming its visitor. -#}
{%- set count_bits = 25 %}
{%- set max_session_events = 2 ** count_bits - 1 %}

with

events as (

    select * from {{ ref('stg_web_events') }}

),

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

-- the visitor's events in order (ties by event id); running counts include the event itself
events_bounded as (

    select
        visitor_key,
        customer_id,
        anonymous_id,
        device,
        referrer,
        occurred_at,
        coalesce(occurred_at - lag(occurred_at) over visits > {{ timeout }}, true) as is_session_start,
        coalesce(lead(occurred_at) over visits - occurred_at > {{ timeout }}, true) as is_session_end,
        row_number() over visits as visitor_event_number,
        event_type_packed,
        sum(event_type_packed) over visits_so_far as event_types_so_far_packed,
    from (
        select
            *,
            case event_type
                {%- for event_type in counted_event_types %}
                when '{{ event_type }}' then cast(1 as hugeint) << {{ loop.index0 * count_bits }}
                {%- endfor %}
                else cast(0 as hugeint)
            end as event_type_packed,
        from events_with_visitor
    )
    window
        visits as (partition by visitor_key order by occurred_at, event_id),
        visits_so_far as (visits rows between unbounded preceding and current row)

),

one_event_sessions as (

    select
        visitor_key,
        customer_id,
        anonymous_id,
        device,
        referrer,
        occurred_at as started_at,
        occurred_at as ended_at,
        1 as event_count,
        event_type_packed as event_types_packed,
    from events_bounded
    where is_session_start and is_session_end

),

-- a longer session's first and last events, alternating within a visitor
longer_session_boundaries as (

    select * from events_bounded
    where is_session_start <> is_session_end

),

longer_sessions as (

    select
        visitor_key,
        customer_id,
        first_event.anonymous_id,
        first_event.device,
        first_event.referrer,
        first_event.occurred_at as started_at,
        occurred_at as ended_at,
        visitor_event_number - first_event.visitor_event_number + 1 as event_count,
        event_types_so_far_packed - first_event.event_types_so_far_packed + first_event.event_type_packed
            as event_types_packed,
    from (
        select
            *,
            lag({
                'anonymous_id': anonymous_id,
                'device': device,
                'referrer': referrer,
                'occurred_at': occurred_at,
                'visitor_event_number': visitor_event_number,
                'event_type_packed': event_type_packed,
                'event_types_so_far_packed': event_types_so_far_packed,
            }) over (partition by visitor_key order by visitor_event_number) as first_event,
        from longer_session_boundaries
    )
    where is_session_end

),

sessions_aggregated as (

    select * from one_event_sessions
    union all by name
    select * from longer_sessions

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
        case
            when event_count > {{ max_session_events }} then error(
                'session of ' || visitor_key || ' from ' || cast(started_at as varchar) || ' has ' || event_count
                || ' events; int_web_events_sessionized counts at most {{ max_session_events }} per session'
            )
            else cast(event_count as bigint)
        end as event_count,
        {%- for event_type in counted_event_types %}
        cast((event_types_packed >> {{ loop.index0 * count_bits }}) & {{ max_session_events }} as bigint)
            as {{ event_type }}_count,
        {%- endfor %}
    from sessions_aggregated

)

select * from sessions
