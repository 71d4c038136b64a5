{# Gold models land in the target schema (gold) unless a model sets +schema explicitly. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
