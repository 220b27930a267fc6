{#- Scoring features: the same macro as the snapshot, as of the day after the latest data. -#}
{{ customer_features(
    as_of_dates='(select scoring_as_of_date as as_of_date from ' ~ ref('int_data_dates_summarized') ~ ')',
    population='all_real_customers',
) }}
