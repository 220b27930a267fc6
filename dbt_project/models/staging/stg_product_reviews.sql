with

source as (

    select * from {{ source('raw', 'product_reviews') }}

),

-- a review re-sent in a later batch is a correction: keep the latest load
latest_versions as (

    select * from source
    where {{ clean_id('review_id') }} is not null
    qualify row_number() over (
        partition by {{ clean_id('review_id') }}
        {{ latest_version_order() }}
    ) = 1

),

renamed as (

    select
        {{ clean_id('review_id') }} as review_id,
        {{ clean_id('customer_id') }} as customer_id,
        {{ clean_id('product_id') }} as product_id,
        rating,
        {{ to_utc('reviewed_at') }} as reviewed_at,
        cast({{ to_utc('reviewed_at') }} as date) as reviewed_date,
        {{ to_utc('_loaded_at') }} as loaded_at,
        _batch_id as batch_id,
    from latest_versions

)

select * from renamed
