with

source as (

    select * from {{ source('raw', 'customers') }}

),

country_codes as (

    select * from {{ ref('country_codes') }}

),

-- every customer id that a fact source mentions; ids missing from the CRM export become placeholders
referenced_ids as (

    select {{ clean_id('customer_id') }} as customer_id from {{ source('raw', 'orders') }}
    union
    select {{ clean_id('customer_id') }} from {{ source('raw', 'web_events') }}
    union
    select {{ clean_id('customer_id') }} from {{ source('raw', 'marketing_interactions') }}
    union
    select {{ clean_id('customer_id') }} from {{ source('raw', 'product_reviews') }}

),

latest_versions as (

    select
        *,
        {{ clean_id('customer_id') }} as cleaned_customer_id,
    from source
    where {{ clean_id('customer_id') }} is not null
    qualify row_number() over (
        partition by {{ clean_id('customer_id') }}
        {{ latest_version_order('updated_at') }}
    ) = 1

),

renamed as (

    select
        latest_versions.cleaned_customer_id as customer_id,

        -- pii: hashed here, never passed on in clear
        {{ hash_pii(normalized_email('latest_versions.email')) }} as email_hash,
        {{ hash_pii(normalized_phone('latest_versions.phone')) }} as phone_hash,
        {{ hash_pii(normalized_postal_code('latest_versions.postal_code')) }} as postal_code_hash,

        coalesce(
            country_codes.country_code,
            case
                when regexp_full_match(trim(latest_versions.country), '[A-Za-z]{2}')
                    then upper(trim(latest_versions.country))
            end
        ) as country_code,
        case
            when lower(trim(latest_versions.gender)) in ('f', 'female', 'woman', 'w') then 'female'
            when lower(trim(latest_versions.gender)) in ('m', 'male', 'man') then 'male'
            when nullif(trim(latest_versions.gender), '') is null then 'unknown'
            when lower(trim(latest_versions.gender)) in ('unknown', 'u', 'n/a', 'na', 'prefer not to say') then 'unknown'
            else 'other'
        end as gender,
        -- a five-year band of the birth year is coarse enough not to identify anyone
        cast(floor(year(latest_versions.birth_date) / 5) * 5 as integer) as birth_year_band_start,
        {{ clean_text('latest_versions.age_group') }} as reported_age_group,
        latest_versions.marketing_opt_in as is_marketing_opt_in,

        {{ to_utc('latest_versions.signup_at') }} as signed_up_at,
        cast({{ to_utc('latest_versions.signup_at') }} as date) as signup_date,
        {{ to_utc('latest_versions.updated_at') }} as updated_at,
        {{ to_utc('latest_versions._loaded_at') }} as loaded_at,
        latest_versions._batch_id as batch_id,

        false as is_placeholder,

    from latest_versions
    left join country_codes
        on lower(trim(latest_versions.country)) = country_codes.country_input

),

placeholders as (

    select
        referenced_ids.customer_id,
        null::varchar as email_hash,
        null::varchar as phone_hash,
        null::varchar as postal_code_hash,
        null::varchar as country_code,
        'unknown' as gender,
        null::integer as birth_year_band_start,
        null::varchar as reported_age_group,
        null::boolean as is_marketing_opt_in,
        null::timestamp as signed_up_at,
        null::date as signup_date,
        null::timestamp as updated_at,
        null::timestamp as loaded_at,
        null::varchar as batch_id,
        true as is_placeholder,
    from referenced_ids
    where referenced_ids.customer_id is not null
        and referenced_ids.customer_id not in (select customer_id from renamed)

),

unioned as (

    select * from renamed
    union all by name
    select * from placeholders

)

select * from unioned
