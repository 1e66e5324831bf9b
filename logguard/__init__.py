"""logguard: streaming security-log anomaly detection.

Kafka consumers ingest categorical security events into DuckDB; entity-embedding (APE) and
graph random-walk (GID) models score events and process paths; CAR ranks the alerts into
attack scenarios. See README.md and the CLI (``logguard --help``).
"""

__version__ = "0.1.0"
