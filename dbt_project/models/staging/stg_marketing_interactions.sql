with

interaction_types as (

    select * from {{ ref('marketing_interaction_types') }}

),

channels as (

    select * from {{ ref('marketing_channels') }}

),

-- an interaction re-sent in a later batch is a correction: keep the latest load
latest_versions as (

    {{ latest_versions_by_rowid(source('raw', 'marketing_interactions'), clean_id('interaction_id')) }}

),

renamed as (

    select
        {{ clean_id('latest_versions.interaction_id') }} as interaction_id,
        {{ clean_id('latest_versions.customer_id') }} as customer_id,
        {{ clean_id('latest_versions.campaign_id') }} as campaign_id,
        lower(trim(latest_versions.channel)) as channel,
        -- channels not in seeds/marketing_channels.csv are grouped as 'other', never dropped
        coalesce(channels.channel_group, 'other') as channel_group,
        lower(trim(latest_versions.interaction_type)) as interaction_type,
        coalesce(interaction_types.is_engagement, false) as is_engagement,
        latest_versions.sentiment as sentiment_score,
        {{ to_utc('latest_versions.occurred_at') }} as occurred_at,
        cast({{ to_utc('latest_versions.occurred_at') }} as date) as occurred_date,
        {{ to_utc('latest_versions._loaded_at') }} as loaded_at,
        latest_versions._batch_id as batch_id,
    from latest_versions
    left join interaction_types
        on lower(trim(latest_versions.interaction_type)) = interaction_types.interaction_type
    left join channels
        on lower(trim(latest_versions.channel)) = channels.channel

)

select * from renamed
