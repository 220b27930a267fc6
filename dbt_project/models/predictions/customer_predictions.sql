{#- One row per known customer with any prediction: churn risk, purchase propensity and lifetime value
    side by side with the customer's non-PII attributes, for BI tools and CRM exports. A score is null
    where its model does not cover the customer (churn: no purchase in the prior year; CLV: never bought). -#}

with

customers as (

    select customer_id, country_code, age_band, is_marketing_opt_in, signup_date
    from {{ ref('dim_customers') }}
    where not is_placeholder

),

churn as (

    select * from {{ source('predictions', 'churn_scores') }}

),

propensity as (

    select * from {{ source('predictions', 'purchase_propensity') }}

),

lifetime_value as (

    select * from {{ source('predictions', 'customer_lifetime_value') }}

),

joined as (

    select
        customers.customer_id,
        customers.country_code,
        customers.age_band,
        customers.is_marketing_opt_in,
        customers.signup_date,
        churn.churn_probability,
        churn.risk_band as churn_risk_band,
        churn.top_drivers as churn_top_drivers,
        churn.model_version as churn_model_version,
        propensity.probability as purchase_probability,
        propensity.horizon_days as purchase_horizon_days,
        propensity.model_version as propensity_model_version,
        lifetime_value.expected_purchases,
        lifetime_value.expected_revenue,
        lifetime_value.p_alive,
        lifetime_value.horizon_days as lifetime_value_horizon_days,
        lifetime_value.model_version as lifetime_value_model_version,
        greatest(churn.scored_at, propensity.scored_at, lifetime_value.scored_at) as scored_at,
    from customers
    left join churn on customers.customer_id = churn.customer_id
    left join propensity on customers.customer_id = propensity.customer_id
    left join lifetime_value on customers.customer_id = lifetime_value.customer_id
    where churn.customer_id is not null
        or propensity.customer_id is not null
        or lifetime_value.customer_id is not null

)

select * from joined
