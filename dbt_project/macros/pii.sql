{#- PII stops at staging: identifiers become salted sha256 hex digests so marts can still join or
    count distinct people without holding the value. The salt is the `pii_salt` var. -#}
{% macro hash_pii(expression) -%}
    case
        when nullif(trim({{ expression }}), '') is null then null
        else sha256('{{ var("pii_salt") }}' || '|' || {{ expression }})
    end
{%- endmacro %}

{#- Emails compare case-insensitively and without surrounding blanks. -#}
{% macro normalized_email(column) -%}
    lower(trim({{ column }}))
{%- endmacro %}

{#- Phones compare on their digits (and a leading +) so "+44 20 7946 0000" and "+442079460000" match. -#}
{% macro normalized_phone(column) -%}
    nullif(regexp_replace(trim({{ column }}), '[^0-9+]', '', 'g'), '')
{%- endmacro %}

{#- Postal codes compare upper-case without spaces ("sw1a 1aa" = "SW1A1AA"). -#}
{% macro normalized_postal_code(column) -%}
    nullif(upper(regexp_replace(trim({{ column }}), '\s', '', 'g')), '')
{%- endmacro %}
