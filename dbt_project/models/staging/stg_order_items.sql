with

source as (

    select * from {{ source('raw', 'order_items') }}

),

numbered as (

    select
        *,
        -- ingestion fills line_number from row order; this keeps the key whole if an export slips through without it
        coalesce(
            line_number,
            row_number() over (partition by {{ clean_id('order_id') }}, _batch_id order by _row_number)
        ) as filled_line_number,
    from source
    where {{ clean_id('order_id') }} is not null

),

-- a line re-sent in a later batch is a correction: keep the latest load
latest_versions as (

    select * from numbered
    qualify row_number() over (
        partition by {{ clean_id('order_id') }}, filled_line_number
        {{ latest_version_order() }}
    ) = 1

),

renamed as (

    select
        {{ clean_id('order_id') }} || '-' || cast(filled_line_number as varchar) as order_item_id,
        {{ clean_id('order_id') }} as order_id,
        cast(filled_line_number as bigint) as line_number,
        {{ clean_id('product_id') }} as product_id,
        coalesce(quantity, 0) as quantity,
        coalesce(unit_price, 0) as unit_price,
        coalesce(discount_amount, 0) as line_discount_amount,
        coalesce(quantity, 0) < 0 as is_return_line,
        {{ to_utc('_loaded_at') }} as loaded_at,
        _batch_id as batch_id,
    from latest_versions

)

select * from renamed
