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

{#- The latest version of each key of a raw table, as latest_version_order says, for the large sources.
    Only keys loaded more than once can have an older version: an aggregate of the key's hash finds
    them (integers group faster than text), the window that ranks versions runs on their rows only, and
    the superseded row ids (few, as corrections are) are anti-joined away; ranking every row sorted all of
    them. Needs a real table (rowid), so models with unit tests that replace their source keep the plain
    qualify. -#}
{% macro latest_versions_by_rowid(raw_relation, key_expression) -%}
    select * from {{ raw_relation }} as raw_rows
    where {{ key_expression }} is not null
        and raw_rows.rowid not in (
            select rowid from {{ raw_relation }}
            -- keys whose 64-bit hash repeats: every key loaded twice, and the rare pair of keys that
            -- collide, which the window below (by the key itself) tells apart
            where hash({{ key_expression }}) in (
                select hash({{ key_expression }}) from {{ raw_relation }}
                where {{ key_expression }} is not null
                group by 1
                having count(*) > 1
            )
            qualify row_number() over (
                partition by {{ key_expression }}
                {{ latest_version_order() }}
            ) > 1
        )
{%- endmacro %}
