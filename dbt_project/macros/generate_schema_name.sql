{#
  Write → audit → publish for gold. The gold task group of a pipeline passes two vars:
  `medallion_staging_schema` (the run's staging schema) and `medallion_models` (the models its
  selection covers, from cosmos's own rendering). Those models are built, tested and gated in the
  staging schema; the gold gate publishes them into gold. Every other node (a model of another
  pipeline that this one `ref`s) resolves to its published schema, so consumers read published gold.
  Without the vars (`dbt parse`, dbt by hand) models land in the target schema (gold) as before.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set staging = var('medallion_staging_schema', none) -%}
    {%- if staging and node.resource_type in ('model', 'snapshot', 'seed')
          and node.name in var('medallion_models', []) -%}
        {{ staging | trim }}
    {%- else -%}
        {{ (custom_schema_name or target.schema) | trim }}
    {%- endif -%}
{%- endmacro %}
