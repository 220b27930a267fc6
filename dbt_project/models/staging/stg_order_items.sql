with

-- ingestion fills line_number from row order; numbering keeps the key whole if an export slips through
-- without it. Both windows sort only keys, ordering columns and row ids (see latest_versions_by_rowid).
numbered as (

    select
        rowid as raw_rowid,
        {{ clean_id('order_id') }} as cleaned_order_id,
        coalesce(
            line_number,
            row_number() over (partition by {{ clean_id('order_id') }}, _batch_id order by _row_number)
        ) as filled_line_number,
        _loaded_at,
        _row_number,
    from {{ source('raw', 'order_items') }}
    where {{ clean_id('order_id') }} is not null

),

-- a line re-sent in a later batch is a correction: keep the latest load
winners as (

    select raw_rowid, filled_line_number from numbered
    qualify row_number() over (
        partition by cleaned_order_id, filled_line_number
        {{ latest_version_order() }}
    ) = 1

),

latest_versions as (

    select raw_rows.*, winners.filled_line_number,
    from {{ source('raw', 'order_items') }} as raw_rows
    inner join winners
        on raw_rows.rowid = winners.raw_rowid

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
