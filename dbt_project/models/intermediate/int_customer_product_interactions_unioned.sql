{#- Every implicit-feedback signal between a known customer and a product, one row per signal, weighted
    by the `event_weights` var. Purchases come from order lines (the source of truth for revenue), not
    from web purchase events, so a purchase is never counted twice. -#}

{%- set weights = var('event_weights') %}

with

web_events as (

    select * from {{ ref('stg_web_events') }}

),

order_lines as (

    select * from {{ ref('int_order_items_joined_to_orders') }}

),

reviews as (

    select * from {{ ref('stg_product_reviews') }}

),

browsing as (

    select
        event_id as interaction_source_id,
        customer_id,
        product_id,
        interaction_type,
        occurred_at as interacted_at,
        cast(null as double) as quantity,
        cast(null as double) as rating,
        cast(
            case interaction_type
                when 'view' then {{ weights['view'] }}
                when 'cart' then {{ weights['cart'] }}
            end as double
        ) as interaction_weight,
    from web_events
    where interaction_type in ('view', 'cart')
        and customer_id is not null
        and product_id is not null

),

purchases as (

    select
        order_item_id as interaction_source_id,
        customer_id,
        product_id,
        'purchase' as interaction_type,
        ordered_at as interacted_at,
        cast(quantity as double) as quantity,
        cast(null as double) as rating,
        cast({{ weights['purchase'] }} as double) as interaction_weight,
    from order_lines
    where is_purchase_line
        and customer_id is not null
        and product_id is not null

),

ratings as (

    select
        review_id as interaction_source_id,
        customer_id,
        product_id,
        'rating' as interaction_type,
        reviewed_at as interacted_at,
        cast(null as double) as quantity,
        cast(rating as double) as rating,
        cast(rating * {{ weights['rating'] }} as double) as interaction_weight,
    from reviews
    where customer_id is not null
        and product_id is not null
        and rating is not null

),

unioned as (

    select * from browsing
    union all
    select * from purchases
    union all
    select * from ratings

)

select * from unioned
