{#- Rows for which the SQL expression is not true (false or null). Usable on a model or a column (the
    column name is then only the test's label; the expression names what it checks). -#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}
