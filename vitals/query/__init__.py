"""The query engine: both tiers and rollups, merged, aggregated into chart series."""
