"""Gold: dbt models through astronomer-cosmos, rendered from a prebuilt manifest."""
