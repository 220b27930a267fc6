{#- The as-of dates of customer_features_snapshot: calendar anchors (month starts, or Mondays for short
    histories) so an existing as-of date never moves when new data arrives. Vars snapshot_step,
    snapshot_start and snapshot_end override the derived values. -#}

{%- set step = var('snapshot_step') %}
{%- if step not in ['auto', 'month', 'week'] %}
    {{ exceptions.raise_compiler_error("var snapshot_step must be one of auto, month, week; got " ~ step) }}
{%- endif %}
{%- set start = var('snapshot_start') %}
{%- set end = var('snapshot_end') %}

with

data_dates as (

    select * from {{ ref('int_data_dates_summarized') }}

),

step_chosen as (

    select
        *,
        {% if step == 'auto' -%}
        -- under ~6 months of orders a monthly spine has too few dates to learn from: go weekly
        case
            when date_diff('day', first_order_date, latest_data_date) < 183 then 'week'
            else 'month'
        end
        {%- else -%}
        '{{ step }}'
        {%- endif %} as snapshot_step,
    from data_dates
    where first_order_date is not null

),

bounds as (

    select
        snapshot_step,
        {% if start -%}
        -- an explicit start is snapped to its anchor so the dates stay on the calendar grid
        cast(
            case
                when snapshot_step = 'month' then date_trunc('month', date '{{ start }}')
                else date_trunc('week', date '{{ start }}')
            end as date
        ) as spine_start_date,
        {%- else -%}
        -- the first anchor after the first order, plus one step, so every customer row has some history
        cast(
            case
                when snapshot_step = 'month' then date_trunc('month', first_order_date) + interval 2 month
                else date_trunc('week', first_order_date) + interval 14 day
            end as date
        ) as spine_start_date,
        {%- endif %}
        {% if end -%}
        date '{{ end }}' as spine_end_date,
        {%- else -%}
        latest_data_date as spine_end_date,
        {%- endif %}
    from step_chosen

),

monthly as (

    select
        snapshot_step,
        cast(unnest(generate_series(spine_start_date, spine_end_date, interval 1 month)) as date) as as_of_date,
    from bounds
    where snapshot_step = 'month' and spine_start_date <= spine_end_date

),

weekly as (

    select
        snapshot_step,
        cast(unnest(generate_series(spine_start_date, spine_end_date, interval 7 day)) as date) as as_of_date,
    from bounds
    where snapshot_step = 'week' and spine_start_date <= spine_end_date

),

spined as (

    select * from monthly
    union all
    select * from weekly

)

select as_of_date, snapshot_step from spined
