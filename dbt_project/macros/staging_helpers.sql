{#- A raw TIMESTAMPTZ as a naive UTC timestamp: every `_at` column after raw is UTC without zone. -#}
{% macro to_utc(column) -%}
    cast(timezone('UTC', {{ column }}) as timestamp)
{%- endmacro %}

{#- Ids are text; blanks around them are export noise and an empty id means none. -#}
{% macro clean_id(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#- Free text: trimmed, empty becomes null. -#}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#- Latest version of each key in a raw table: the later `version_column` wins (customers, products carry
    `updated_at`), then the later batch (`_loaded_at`), then the later row of the file. -#}
{% macro latest_version_order(version_column=none) -%}
    order by
        {% if version_column is not none %}{{ version_column }} desc nulls last,{% endif %}
        _loaded_at desc nulls last,
        _row_number desc nulls last
{%- endmacro %}
