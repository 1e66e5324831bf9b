"""Kafka -> DuckDB ingest: micro-batches, validation, dead letters, exactly-once offsets."""
