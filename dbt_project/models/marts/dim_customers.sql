with

customers as (

    select * from {{ ref('stg_customers') }}

),

data_dates as (

    select * from {{ ref('int_data_dates_summarized') }}

),

with_age as (

    select
        customers.*,
        data_dates.scoring_as_of_date,
        -- middle of the five-year birth band, aged at the latest data date (not today: rebuilds are reproducible)
        year(data_dates.latest_data_date) - (customers.birth_year_band_start + 2) as approximate_age,
    from customers
    cross join data_dates

),

final as (

    select
        cast(customer_id as varchar) as customer_id,
        cast(email_hash as varchar) as email_hash,
        cast(phone_hash as varchar) as phone_hash,
        cast(postal_code_hash as varchar) as postal_code_hash,
        cast(country_code as varchar) as country_code,
        cast(
            case
                when approximate_age is null then coalesce(reported_age_group, 'unknown')
                when approximate_age < 18 then 'under 18'
                when approximate_age < 25 then '18-24'
                when approximate_age < 35 then '25-34'
                when approximate_age < 45 then '35-44'
                when approximate_age < 55 then '45-54'
                when approximate_age < 65 then '55-64'
                else '65+'
            end as varchar
        ) as age_band,
        cast(is_marketing_opt_in as boolean) as is_marketing_opt_in,
        cast(signed_up_at as timestamp) as signed_up_at,
        cast(signup_date as date) as signup_date,
        cast(date_diff('day', signup_date, scoring_as_of_date) as bigint) as tenure_days,
        cast(is_placeholder as boolean) as is_placeholder,
    from with_age

)

select * from final
