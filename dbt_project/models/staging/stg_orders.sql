with

source as (

    select * from {{ source('raw', 'orders') }}

),

-- an order re-sent in a later batch is a correction: keep the latest load
latest_versions as (

    select * from source
    where {{ clean_id('order_id') }} is not null
    qualify row_number() over (
        partition by {{ clean_id('order_id') }}
        {{ latest_version_order() }}
    ) = 1

),

renamed as (

    select
        {{ clean_id('order_id') }} as order_id,
        {{ clean_id('customer_id') }} as customer_id,
        lower(trim(status)) as status,
        lower({{ clean_text('channel') }}) as channel,
        upper({{ clean_text('currency') }}) as currency_code,
        coalesce(shipping_amount, 0) as shipping_amount,
        coalesce(discount_amount, 0) as order_discount_amount,
        {{ to_utc('ordered_at') }} as ordered_at,
        cast({{ to_utc('ordered_at') }} as date) as ordered_date,
        {{ to_utc('_loaded_at') }} as loaded_at,
        _batch_id as batch_id,
    from latest_versions

)

select * from renamed
