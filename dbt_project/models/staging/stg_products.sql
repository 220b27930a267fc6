with

source as (

    select * from {{ source('raw', 'products') }}

),

-- every product id that a fact source mentions; ids missing from the catalogue become placeholders
referenced_ids as (

    select {{ clean_id('product_id') }} as product_id from {{ source('raw', 'order_items') }}
    union
    select {{ clean_id('product_id') }} from {{ source('raw', 'web_events') }}
    union
    select {{ clean_id('product_id') }} from {{ source('raw', 'product_reviews') }}

),

latest_versions as (

    select
        *,
        {{ clean_id('product_id') }} as cleaned_product_id,
    from source
    where {{ clean_id('product_id') }} is not null
    qualify row_number() over (
        partition by {{ clean_id('product_id') }}
        {{ latest_version_order('updated_at') }}
    ) = 1

),

renamed as (

    select
        cleaned_product_id as product_id,
        {{ clean_text('name') }} as product_name,
        -- categories compare case-insensitively across exports ("Shoes" = "shoes ")
        lower({{ clean_text('category') }}) as category,
        lower({{ clean_text('subcategory') }}) as subcategory,
        {{ clean_text('brand') }} as brand,
        list_price,
        upper({{ clean_text('currency') }}) as currency_code,
        coalesce(is_active, true) as is_active,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        {{ to_utc('_loaded_at') }} as loaded_at,
        _batch_id as batch_id,
        false as is_placeholder,
    from latest_versions

),

placeholders as (

    select
        referenced_ids.product_id,
        null::varchar as product_name,
        null::varchar as category,
        null::varchar as subcategory,
        null::varchar as brand,
        null::double as list_price,
        null::varchar as currency_code,
        null::boolean as is_active,
        null::timestamp as created_at,
        null::timestamp as updated_at,
        null::timestamp as loaded_at,
        null::varchar as batch_id,
        true as is_placeholder,
    from referenced_ids
    where referenced_ids.product_id is not null
        and referenced_ids.product_id not in (select product_id from renamed)

),

unioned as (

    select * from renamed
    union all by name
    select * from placeholders

)

select * from unioned
