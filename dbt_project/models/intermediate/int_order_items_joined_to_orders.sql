with

order_items as (

    select * from {{ ref('stg_order_items') }}

),

orders as (

    select * from {{ ref('stg_orders') }}

),

order_statuses as (

    select * from {{ ref('order_statuses') }}

),

products as (

    select * from {{ ref('stg_products') }}

),

joined as (

    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.line_number,
        orders.customer_id,
        order_items.product_id,
        coalesce(products.category, 'unknown') as category,
        orders.status,
        orders.ordered_at,
        orders.ordered_date,
        order_items.quantity,
        order_items.unit_price,
        order_items.line_discount_amount,
        order_items.is_return_line,
        -- an order without a status is taken as placed: it was exported, so it exists
        coalesce(order_statuses.is_revenue, orders.status is null) as is_revenue,
        coalesce(order_statuses.is_cancelled, false) as is_cancelled,
        coalesce(order_statuses.is_fully_returned, false) as is_fully_returned,
        coalesce(orders.order_discount_amount, 0) > 0 as has_order_discount,
    from order_items
    left join orders
        on order_items.order_id = orders.order_id
    left join order_statuses
        on orders.status = order_statuses.status
    left join products
        on order_items.product_id = products.product_id

),

amounts as (

    select
        *,
        case when quantity > 0 then quantity * unit_price else 0 end as gross_line_amount,
        -- a return line refunds its value net of the discount it had: -(units x price - discount)
        case when quantity < 0 then -quantity * unit_price - line_discount_amount else 0 end as returned_line_amount,
        case
            when not is_revenue then 0
            else quantity * unit_price - sign(quantity) * line_discount_amount
        end as net_line_amount,
        is_revenue and quantity > 0 as is_purchase_line,
        case
            when quantity > 0 and quantity * unit_price > 0
                then line_discount_amount / (quantity * unit_price)
        end as line_discount_rate,
    from joined

)

select * from amounts
