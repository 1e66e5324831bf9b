"""The analyst's desk: reads of the alert queue, scenarios and explanations, and the feedback
loop (verdicts, suppressions, CAR weights, threshold calibration) over the DuckDB store.

``queries`` holds every read the CLI and the web API make (parameterised SQL only),
``feedback`` every write and the feedback signals the daemon and the retrain job use, and
``backend`` chooses between the DuckDB file and a running daemon's HTTP API.
"""
