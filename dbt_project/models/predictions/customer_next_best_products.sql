{#- The recommender's lists with the product's catalogue attributes, for CRM exports and the storefront:
    one row per customer and rank. Only active products (the tests enforce it), ranks contiguous from 1. -#}

with

recommendations as (

    select * from {{ source('predictions', 'next_best_products') }}

),

products as (

    select product_id, product_name, category, brand, list_price, is_active from {{ ref('dim_products') }}

),

joined as (

    select
        recommendations.customer_id,
        recommendations."rank" as recommendation_rank,
        recommendations.product_id,
        products.product_name,
        products.category,
        products.brand,
        products.list_price,
        products.is_active as is_product_active,
        recommendations.score,
        recommendations.reason,
        recommendations.model_version,
        recommendations.scored_at,
    from recommendations
    inner join products on recommendations.product_id = products.product_id

)

select * from joined
