with

order_lines as (

    select
        rowid as raw_rowid,
        {{ clean_id('order_id') }} as cleaned_order_id,
        line_number,
        _batch_id,
        _loaded_at,
        _row_number,
    from {{ source('raw', 'order_items') }}
    where {{ clean_id('order_id') }} is not null

),

-- ingestion fills line_number from row order; numbering keeps the key whole if an export slips through
-- without it: such a line takes its position among its order's lines of that batch. Only those orders
-- are numbered, as a window sorts every row it numbers.
orders_with_unnumbered_lines as (

    select distinct cleaned_order_id, _batch_id from order_lines
    where line_number is null

),

numbered as (

    select raw_rowid, cleaned_order_id, line_number as filled_line_number, _loaded_at, _row_number,
    from order_lines
    anti join orders_with_unnumbered_lines using (cleaned_order_id, _batch_id)

    union all

    select
        raw_rowid,
        cleaned_order_id,
        coalesce(
            line_number,
            row_number() over (partition by cleaned_order_id, _batch_id order by _row_number)
        ) as filled_line_number,
        _loaded_at,
        _row_number,
    from order_lines
    semi join orders_with_unnumbered_lines using (cleaned_order_id, _batch_id)

),

-- a line re-sent in a later batch is a correction: keep the latest load
superseded as (

    {{ superseded_row_ids('numbered', 'cleaned_order_id, filled_line_number', row_id='raw_rowid') }}

),

latest_versions as (

    select raw_rows.*, numbered.filled_line_number,
    from {{ source('raw', 'order_items') }} as raw_rows
    inner join numbered
        on raw_rows.rowid = numbered.raw_rowid
    where numbered.raw_rowid not in (select raw_rowid from superseded)

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
