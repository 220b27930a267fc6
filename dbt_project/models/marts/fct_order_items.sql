with

order_lines as (

    select * from {{ ref('int_order_items_joined_to_orders') }}

),

final as (

    select
        order_item_id,
        order_id,
        line_number,
        customer_id,
        product_id,
        category,
        status,
        ordered_at,
        ordered_date,
        quantity,
        unit_price,
        line_discount_amount,
        gross_line_amount,
        returned_line_amount,
        net_line_amount,
        is_return_line,
        is_purchase_line,
        is_revenue,
    from order_lines

)

select * from final
