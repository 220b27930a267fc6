with

products as (

    select * from {{ ref('stg_products') }}

),

category_prices as (

    select
        category,
        median(list_price) as category_median_list_price,
    from products
    where not is_placeholder and list_price > 0 and category is not null
    group by category

),

final as (

    select
        cast(products.product_id as varchar) as product_id,
        cast(products.product_name as varchar) as product_name,
        cast(coalesce(products.category, 'unknown') as varchar) as category,
        cast(products.subcategory as varchar) as subcategory,
        cast(products.brand as varchar) as brand,
        cast(products.list_price as double) as list_price,
        cast(products.currency_code as varchar) as currency_code,
        cast(category_prices.category_median_list_price as double) as category_median_list_price,
        -- within the category: under 0.8x the median is budget, over 1.25x premium
        cast(
            case
                when products.list_price is null or category_prices.category_median_list_price is null then 'unknown'
                when products.list_price < 0.8 * category_prices.category_median_list_price then 'budget'
                when products.list_price > 1.25 * category_prices.category_median_list_price then 'premium'
                else 'standard'
            end as varchar
        ) as price_tier,
        cast(products.is_active as boolean) as is_active,
        cast(products.created_at as timestamp) as created_at,
        cast(products.is_placeholder as boolean) as is_placeholder,
    from products
    left join category_prices
        on products.category = category_prices.category

)

select * from final
