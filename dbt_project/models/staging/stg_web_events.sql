with

event_types as (

    select * from {{ ref('event_types') }}

),

-- an event re-sent in a later batch is a correction: keep the latest load
latest_versions as (

    {{ latest_versions_by_rowid(source('raw', 'web_events'), clean_id('event_id')) }}

),

renamed as (

    select
        {{ clean_id('latest_versions.event_id') }} as event_id,
        {{ clean_id('latest_versions.session_id') }} as tracker_session_id,
        {{ clean_id('latest_versions.customer_id') }} as customer_id,
        {{ clean_id('latest_versions.anonymous_id') }} as anonymous_id,
        lower(trim(latest_versions.event_type)) as event_type,
        event_types.interaction_type,
        {{ clean_id('latest_versions.product_id') }} as product_id,
        {{ clean_text('latest_versions.page_url') }} as page_url,
        {{ clean_text('latest_versions.referrer') }} as referrer,
        lower({{ clean_text('latest_versions.device') }}) as device,
        {{ to_utc('latest_versions.occurred_at') }} as occurred_at,
        cast({{ to_utc('latest_versions.occurred_at') }} as date) as occurred_date,
        {{ to_utc('latest_versions._loaded_at') }} as loaded_at,
        latest_versions._batch_id as batch_id,
    from latest_versions
    left join event_types
        on lower(trim(latest_versions.event_type)) = event_types.event_type

)

select * from renamed
