"""The DuckDB hot store (events, dead letters, stored Kafka offsets) and its Parquet export."""
