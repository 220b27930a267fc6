{#- Order-level money: gross merchandise, minus line and order discounts, minus returned lines
    (negative quantities), gives net revenue. Shipping is reported beside it, not in it. Orders whose
    status does not count as revenue (cancelled, returned) keep their amounts visible but net to zero. -#}

with

orders as (

    select * from {{ ref('stg_orders') }}

),

order_statuses as (

    select * from {{ ref('order_statuses') }}

),

order_lines as (

    select * from {{ ref('int_order_items_joined_to_orders') }}

),

lines_aggregated as (

    select
        order_id,
        count(*) as line_count,
        count(*) filter (where is_return_line) as return_line_count,
        sum(case when quantity > 0 then quantity else 0 end) as units_ordered,
        sum(case when quantity < 0 then -quantity else 0 end) as units_returned_in_lines,
        sum(gross_line_amount) as gross_merchandise_amount,
        sum(case when quantity > 0 then line_discount_amount else 0 end) as line_discount_amount,
        sum(returned_line_amount) as returned_amount,
    from order_lines
    group by order_id

),

joined as (

    select
        orders.order_id,
        orders.customer_id,
        orders.status,
        orders.channel,
        orders.currency_code,
        orders.ordered_at,
        orders.ordered_date,
        coalesce(order_statuses.is_revenue, orders.status is null) as is_revenue,
        coalesce(order_statuses.is_cancelled, false) as is_cancelled,
        coalesce(order_statuses.is_fully_returned, false) as is_fully_returned,
        coalesce(lines_aggregated.line_count, 0) as line_count,
        coalesce(lines_aggregated.return_line_count, 0) as return_line_count,
        coalesce(lines_aggregated.units_ordered, 0) as units_ordered,
        coalesce(lines_aggregated.units_returned_in_lines, 0) as units_returned_in_lines,
        coalesce(lines_aggregated.gross_merchandise_amount, 0) as gross_merchandise_amount,
        coalesce(lines_aggregated.line_discount_amount, 0) as line_discount_amount,
        coalesce(lines_aggregated.returned_amount, 0) as returned_amount,
        orders.order_discount_amount,
        orders.shipping_amount,
    from orders
    left join lines_aggregated
        on orders.order_id = lines_aggregated.order_id
    left join order_statuses
        on orders.status = order_statuses.status

),

netted as (

    select
        *,
        case
            when is_revenue
                then gross_merchandise_amount - line_discount_amount - order_discount_amount - returned_amount
            else 0
        end as net_revenue,
        -- a return is an order sent back whole, or one made only of return lines
        is_fully_returned or (line_count > 0 and return_line_count = line_count) as is_return,
        -- units that came back: return lines, or every unit of an order returned whole (its return
        -- lines, if any, are some of those same units)
        case
            when is_fully_returned then greatest(units_ordered, units_returned_in_lines)
            else units_returned_in_lines
        end as units_returned,
    from joined

),

final as (

    select
        *,
        -- a purchase counts towards frequency: revenue status and not itself a return
        is_revenue and not is_return as is_purchase,
    from netted

)

select * from final
