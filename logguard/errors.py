"""Errors a user can act on, each with the process exit code the CLI returns for it.

The CLI prints ``logguard <command>: error: <message>`` and exits with ``exit_code``; any other
exception is a bug and keeps its traceback.
"""


class LogguardError(Exception):
    """Base class: a clear message for the user and an exit code."""

    exit_code = 2


class InputError(LogguardError):
    """Bad input file, format, column or argument (exit 2)."""


class ConfigError(LogguardError):
    """Bad configuration value (exit 2)."""


class StoreError(LogguardError):
    """The DuckDB store cannot be used: not a DuckDB file, locked by another process (exit 3)."""

    exit_code = 3


class BrokerError(LogguardError):
    """The Kafka broker cannot be started or reached (exit 4)."""

    exit_code = 4


class ModelError(LogguardError):
    """A model directory is missing, corrupt, or not fitted (exit 5)."""

    exit_code = 5
