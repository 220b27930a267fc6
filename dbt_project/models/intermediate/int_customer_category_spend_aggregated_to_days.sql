{#- One row per customer, day and product category bought: spend for category affinity and the unit
    prices paid for price sensitivity. -#}

with

order_lines as (

    select * from {{ ref('int_order_items_joined_to_orders') }}

),

aggregated as (

    select
        customer_id,
        ordered_date as activity_date,
        category,
        cast(sum(net_line_amount) as double) as net_spend,
        cast(count(*) as bigint) as purchase_lines,
        cast(sum(unit_price) as double) as unit_price_sum,
    from order_lines
    where is_purchase_line and customer_id is not null
    group by 1, 2, 3

)

select * from aggregated
