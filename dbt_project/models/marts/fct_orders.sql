with

orders as (

    select * from {{ ref('int_orders_netted') }}

),

final as (

    select
        order_id,
        customer_id,
        status,
        channel,
        currency_code,
        ordered_at,
        ordered_date,
        is_revenue,
        is_cancelled,
        is_return,
        is_purchase,
        line_count,
        units_ordered,
        units_returned,
        gross_merchandise_amount,
        line_discount_amount,
        order_discount_amount,
        returned_amount,
        net_revenue,
        shipping_amount,
    from orders

)

select * from final
