"""The streaming daemon: scoring loop, alert findings, output sinks and operational metrics."""
