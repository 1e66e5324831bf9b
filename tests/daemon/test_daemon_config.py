"""The daemon's configuration: every key checked, errors name the key or the env variable."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from logguard.daemon.config import (
    EXAMPLE_FILE,
    DaemonConfig,
    KafkaSecurity,
    load_config,
    render_toml,
)
from logguard.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "daemon.toml"
    path.write_text(text)
    return path


def test_the_shipped_example_loads_and_prints_back_to_the_same_config():
    config = load_config(EXAMPLE_FILE)
    assert config.topics["logguard.ids"] == "alert"
    assert load_config(None, tomllib.loads(render_toml(config))) == config


def test_flags_override_the_file(tmp_path: Path):
    path = write(tmp_path, 'bootstrap = "10.0.0.1:9092"\nbatch_ms = 250\n')
    config = load_config(path, {"bootstrap": "127.0.0.1:1234", "batch_ms": None})
    assert (config.bootstrap, config.batch_ms) == ("127.0.0.1:1234", 250)


@pytest.mark.parametrize(("text", "message"), [
    ('[sinks.webhook]\nurl = "http://127.0.0.1:9/hook"\ntimeout_s = "x"\n',
     'sinks.webhook.timeout_s: expected float, got "x"'),
    ('[kafka]\nsasl_pasword_env = "PW"\n', "kafka.sasl_pasword_env: unknown key"),
    ('batch_size = 1.5\n', "batch_size: expected int, got 1.5"),
    ('store_scores = "yes"\n', 'store_scores: expected bool, got "yes"'),
    ('torch_threads = 0\n', "torch_threads: expected a positive number, got 0"),
    ('[thresholds]\nprocess = "high"\n', 'thresholds.process: expected float, got "high"'),
    ('[topics]\n"logguard.x" = "martian"\n', "topics.logguard.x: unknown source 'martian'"),
    ('[sinks.syslog]\nprotocol = "sctp"\n', 'sinks.syslog.protocol: expected "udp" or "tcp"'),
    ('gid_window_s = [1, 2]\n', "gid_window_s: expected float, got [1, 2]"),
    ('bootstrap = \n', "not valid TOML"),
])
def test_a_malformed_config_names_the_bad_key(tmp_path: Path, text: str, message: str):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert message in str(error.value)


def test_the_cli_names_the_bad_key_without_a_traceback(tmp_path: Path, logguard_cli):
    path = write(tmp_path, "[sinks.webhook]\nurl = \"http://127.0.0.1:9/\"\nretries = \"x\"\n")
    result = logguard_cli("daemon", "--config", str(path), "--db", str(tmp_path / "d.duckdb"))
    assert result.returncode != 0
    assert "sinks.webhook.retries: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "d.duckdb").exists()


def test_a_missing_secret_env_var_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           logguard_cli):
    monkeypatch.delenv("LOGGUARD_TEST_UNSET_PASSWORD", raising=False)
    security = KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                             sasl_plain_username="svc",
                             sasl_password_env="LOGGUARD_TEST_UNSET_PASSWORD")
    with pytest.raises(ConfigError, match=r"kafka\.sasl_password_env names the environment "
                       r"variable LOGGUARD_TEST_UNSET_PASSWORD, which is not set"):
        security.client_settings()
    monkeypatch.setenv("LOGGUARD_TEST_UNSET_PASSWORD", "s3cret-value")
    assert security.client_settings()["sasl_plain_password"] == "s3cret-value"
    monkeypatch.delenv("LOGGUARD_TEST_UNSET_PASSWORD")
    path = write(tmp_path, '[sinks.webhook]\nurl = "http://127.0.0.1:9/"\n'
                 'token_env = "LOGGUARD_TEST_UNSET_TOKEN"\n')
    result = logguard_cli("daemon", "--config", str(path), "--db", str(tmp_path / "d.duckdb"),
                          "--bootstrap", "127.0.0.1:9")
    assert result.returncode != 0
    assert "LOGGUARD_TEST_UNSET_TOKEN" in result.stderr and "not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_print_config_shows_env_names_never_secret_values(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path, logguard_cli):
    path = write(tmp_path, '[kafka]\nsecurity_protocol = "SASL_SSL"\n'
                 'sasl_password_env = "LOGGUARD_TEST_PW"\n')
    monkeypatch.setenv("LOGGUARD_TEST_PW", "do-not-print-me")
    result = logguard_cli("daemon", "--config", str(path), "--print-config")
    assert result.returncode == 0, result.stderr
    assert 'sasl_password_env = "LOGGUARD_TEST_PW"' in result.stdout
    assert "do-not-print-me" not in result.stdout
    assert load_config(None, tomllib.loads(result.stdout)).kafka.security_protocol == "SASL_SSL"
    assert DaemonConfig().check().output_topic == "logguard.alerts"
