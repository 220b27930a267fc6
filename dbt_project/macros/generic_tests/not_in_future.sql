{#- Rows dated after now (UTC): a timestamp in the future is a clock or time-zone error upstream. -#}
{% test not_in_future(model, column_name) %}

select *
from {{ model }}
where cast({{ column_name }} as timestamp) > cast(timezone('UTC', current_timestamp) as timestamp)

{% endtest %}
