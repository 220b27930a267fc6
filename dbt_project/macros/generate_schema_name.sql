{#- The warehouse has exactly six schemas (raw, staging, intermediate, marts, ml, predictions), so a
    custom schema is used verbatim instead of dbt's default `<target schema>_<custom>`. A model or seed
    without one is a mistake (it would land in `main`), so it fails at parse time. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is not none -%}
        {{ custom_schema_name | trim }}
    {%- elif node.resource_type in ['model', 'seed', 'snapshot'] -%}
        {{ exceptions.raise_compiler_error(
            node.unique_id ~ " has no schema: set +schema in dbt_project.yml or its config "
            ~ "to one of raw, staging, intermediate, marts, ml, predictions"
        ) }}
    {%- else -%}
        {{ target.schema }}
    {%- endif -%}
{%- endmacro %}
