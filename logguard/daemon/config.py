"""Every setting of ``logguard daemon``: one dataclass, read from TOML, checked key by key.

:func:`load_config` reads a TOML file (stdlib ``tomllib``) into :class:`DaemonConfig`, then
applies command-line overrides. Every key is checked against the dataclass fields: an unknown
key or a value of the wrong type raises :class:`~logguard.errors.ConfigError` naming the key
path, e.g. ``sinks.webhook.timeout_s: expected float, got "x"``. Secrets never appear in the
file: it names environment variables (``kafka.sasl_password_env``, ``sinks.webhook.token_env``,
``token_env``) and :func:`secret` reads them, naming the variable when it is unset.
:func:`render_toml` prints the effective configuration (``logguard daemon --print-config``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logguard.errors import ConfigError

DEFAULT_TOPICS = {
    "logguard.process": "process",
    "logguard.auth": "auth",
    "logguard.network": "network",
    "logguard.insider": "insider",
    "logguard.ids": "alert",
}
EXAMPLE_FILE = Path(__file__).with_name("example.toml")


@dataclass
class KafkaSecurity:
    """SASL/TLS settings passed through to kafka-python (the password only via an env var)."""

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_plain_username: str | None = None
    sasl_password_env: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def client_settings(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients; reads the password from its env var."""
        settings: dict[str, Any] = {"security_protocol": self.security_protocol}
        for name in ("sasl_mechanism", "sasl_plain_username", "ssl_cafile", "ssl_certfile",
                     "ssl_keyfile"):
            if getattr(self, name) is not None:
                settings[name] = getattr(self, name)
        if self.sasl_password_env is not None:
            settings["sasl_plain_password"] = secret(self.sasl_password_env,
                                                     "kafka.sasl_password_env")
        return settings


@dataclass
class SyslogSink:
    """CEF over syslog to ``host:port`` (``udp`` or ``tcp``)."""

    host: str = "127.0.0.1"
    port: int = 514
    protocol: str = "udp"


@dataclass
class WebhookSink:
    """JSON findings POSTed to ``url``; the bearer token from the env var ``token_env``."""

    url: str = ""
    token_env: str | None = None
    timeout_s: float = 5.0


@dataclass
class Sinks:
    """Optional sinks besides the output topic (which is always on)."""

    syslog: SyslogSink | None = None
    webhook: WebhookSink | None = None


@dataclass
class DaemonConfig:
    """Every flag of the daemon (see ``logguard/daemon/example.toml`` for each one explained)."""

    bootstrap: str = "127.0.0.1:9092"
    db: str = "logguard.duckdb"
    models: str = "models"
    topics: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TOPICS))
    group: str = "logguard-daemon"
    output_topic: str = "logguard.alerts"
    output_partitions: int = 3
    alert_budget_per_10k: float = 5.0
    thresholds: dict[str, float] = field(default_factory=dict)
    alert_group_window_s: float = 3600.0
    gid_window_s: float = 3600.0
    gid_interval_s: float = 5.0
    gid_top_k: int = 10
    car_interval_s: float = 10.0
    car_hours: float = 24.0
    car_refit_alerts: int = 20_000
    reload_interval_s: float = 5.0
    batch_size: int = 10_000
    batch_ms: int = 500
    store_scores: bool = True
    torch_threads: int = 1
    http_host: str = "127.0.0.1"
    http_port: int = 0
    token_env: str | None = None
    session_timeout_ms: int = 6000
    max_poll_interval_ms: int = 60_000
    until_idle_s: float | None = None
    log_format: str = "text"
    kafka: KafkaSecurity = field(default_factory=KafkaSecurity)
    sinks: Sinks = field(default_factory=Sinks)

    def check(self) -> DaemonConfig:
        """Value checks that types alone do not express; returns self."""
        if self.log_format not in ("text", "json"):
            raise ConfigError(f'log_format: expected "text" or "json", got {self.log_format!r}')
        if not self.topics:
            raise ConfigError("topics: at least one topic -> source is needed")
        from logguard.events.schema import available_sources

        for topic, source in self.topics.items():
            if source not in available_sources():
                raise ConfigError(f"topics.{topic}: unknown source {source!r}; known: "
                                  f"{', '.join(available_sources())}")
        if not 0 < self.alert_budget_per_10k <= 10_000:
            raise ConfigError("alert_budget_per_10k: expected a number in (0, 10000], got "
                              f"{self.alert_budget_per_10k}")
        if self.alert_group_window_s < 0:
            raise ConfigError("alert_group_window_s: expected seconds >= 0 (0 turns grouping "
                              f"off), got {self.alert_group_window_s}")
        for name in ("batch_size", "batch_ms", "gid_top_k", "session_timeout_ms",
                     "output_partitions", "torch_threads"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: expected a positive number, got {getattr(self, name)}")
        for source, value in self.thresholds.items():
            if not 0 <= value <= 100:
                raise ConfigError(f"thresholds.{source}: expected a calibrated score in "
                                  f"[0, 100], got {value}")
        if self.sinks.syslog is not None and self.sinks.syslog.protocol not in ("udp", "tcp"):
            raise ConfigError(f'sinks.syslog.protocol: expected "udp" or "tcp", got '
                              f"{self.sinks.syslog.protocol!r}")
        if self.sinks.webhook is not None and not self.sinks.webhook.url:
            raise ConfigError("sinks.webhook.url: required when [sinks.webhook] is present")
        return self


def secret(env_name: str, key: str) -> str:
    """The value of the environment variable ``env_name`` that config key ``key`` names."""
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(f"{key} names the environment variable {env_name}, which is not set")
    return value


# ---------------------------------------------------------------------------- reading
def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _convert(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against the annotation ``hint``; ConfigError names ``key``."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(value, options[0], key)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {_shown(value)}")
        return _build(hint, value, key + ".")
    if origin is dict:
        _, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {_shown(value)}")
        return {str(k): _convert(v, value_type, f"{key}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {_type_name(hint)}, got {_shown(value)}")
    if not isinstance(value, hint):
        raise ConfigError(f"{key}: expected {_type_name(hint)}, got {_shown(value)}")
    return value


def _build(cls: type, table: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for name in table:
        if name not in known:
            raise ConfigError(f"{prefix}{name}: unknown key (known: {', '.join(sorted(known))})")
    return cls(**{name: _convert(value, hints[name], prefix + name)
                  for name, value in table.items()})


def load_config(path: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> DaemonConfig:
    """The configuration from the TOML file ``path`` (defaults when None), then ``overrides``
    (top-level keys, e.g. from command-line flags; None values are ignored)."""
    table: dict[str, Any] = {}
    if path is not None:
        try:
            table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        if value is not None:
            table[key] = value
    return _build(DaemonConfig, table).check()


# ---------------------------------------------------------------------------- printing
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _toml_table(obj: Any, name: str, out: list[str]) -> None:
    scalars, tables = [], []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) or isinstance(value, dict):
            tables.append((f.name, value))
        elif value is not None:
            scalars.append(f"{f.name} = {_toml_value(value)}")
    if name and (scalars or not tables):
        out.append(f"\n[{name}]")
    out.extend(scalars)
    for key, value in tables:
        full = f"{name}.{key}" if name else key
        if isinstance(value, dict):
            out.append(f"\n[{full}]")
            out.extend(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        else:
            _toml_table(value, full, out)


def render_toml(config: DaemonConfig) -> str:
    """The effective configuration as TOML that :func:`load_config` reads back.

    Secrets are never part of it: the config only holds the names of their env variables.
    """
    out: list[str] = ["# logguard daemon: effective configuration"]
    _toml_table(config, "", out)
    return "\n".join(out) + "\n"
