with

sessions as (

    select * from {{ ref('int_web_events_sessionized') }}

),

final as (

    select
        session_id,
        customer_id,
        anonymous_id,
        is_anonymous,
        device,
        referrer,
        started_at,
        ended_at,
        started_date,
        duration_seconds,
        event_count,
        page_view_count,
        product_view_count,
        add_to_cart_count,
        checkout_count,
        purchase_count,
        purchase_count > 0 as is_converted,
    from sessions

)

select * from final
