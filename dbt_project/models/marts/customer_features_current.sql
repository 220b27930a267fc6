{#- Scoring features: the same macro as the snapshot, as of the day after the latest data (none while
    the warehouse holds no dated fact). -#}
{{ customer_features(
    as_of_dates='(select scoring_as_of_date as as_of_date from ' ~ ref('int_data_dates_summarized')
        ~ ' where scoring_as_of_date is not null)',
    population='all_real_customers',
) }}
