{%- set weights = var('event_weights') %}

with

interactions as (

    select * from {{ ref('int_customer_product_interactions_unioned') }}

),

aggregated as (

    select
        customer_id,
        product_id,
        count(*) filter (where interaction_type = 'view') as view_count,
        count(*) filter (where interaction_type = 'cart') as cart_count,
        count(*) filter (where interaction_type = 'purchase') as purchase_count,
        coalesce(sum(quantity) filter (where interaction_type = 'purchase'), 0) as purchased_quantity,
        -- a customer who reviews twice means the latest rating
        arg_max(rating, interacted_at) filter (where interaction_type = 'rating') as latest_rating,
        min(interacted_at) as first_interacted_at,
        max(interacted_at) as last_interacted_at,
        max(interacted_at) filter (where interaction_type = 'purchase') as last_purchased_at,
    from interactions
    group by customer_id, product_id

),

final as (

    select
        cast(customer_id as varchar) as customer_id,
        cast(product_id as varchar) as product_id,
        cast(view_count as bigint) as view_count,
        cast(cart_count as bigint) as cart_count,
        cast(purchase_count as bigint) as purchase_count,
        cast(purchased_quantity as double) as purchased_quantity,
        cast(latest_rating as double) as latest_rating,
        cast(
            view_count * {{ weights['view'] }}
            + cart_count * {{ weights['cart'] }}
            + purchase_count * {{ weights['purchase'] }}
            + coalesce(latest_rating, 0) * {{ weights['rating'] }}
            as double
        ) as interaction_score,
        cast(first_interacted_at as timestamp) as first_interacted_at,
        cast(last_interacted_at as timestamp) as last_interacted_at,
        cast(last_purchased_at as timestamp) as last_purchased_at,
    from aggregated

)

select * from final
