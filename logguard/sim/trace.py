"""Process instances and the event rows they emit, in the layout of the Sysmon reader.

Rows follow ``schemas/process.schema.json`` and the conventions of
:mod:`logguard.events.readers.sysmon`, so simulated and recorded traces feed the same models:

* a process start (Sysmon EID 1) is an edge parent -> child: the acting process
  (``process_guid``, ``process_id``, ``image``, ``command_line``) is the **parent**,
  ``object_name`` is the child's image and ``object_guid`` / ``object_process_id`` /
  ``object_command_line`` carry the child; ``user`` is the child's account;
* a process access (EID 10) names the target image and, when known, its GUID in ``object_guid``;
* a process end (EID 5) names the process itself as the object.

Unlike Sysmon, the simulator knows every process's parent, so ``parent_guid`` /
``parent_image`` (the acting process's own parent) are filled on every row. Two label columns
close the row: ``attack_step`` and ``attack_id``, ``None`` on normal events.
Rows are plain tuples with the event time in integer nanoseconds since the epoch (fast to
build, sort and merge); :func:`iso_time` turns it into ISO 8601 UTC with milliseconds and ``Z``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from logguard.errors import InputError

COLUMNS = (
    "time", "host", "user", "process_guid", "process_id", "image", "command_line",
    "parent_guid", "parent_image", "action", "object_type", "object_name", "event_code",
    "object_guid", "object_process_id", "object_command_line", "attack_step", "attack_id",
)
LABEL_COLUMNS = ("attack_step", "attack_id")
TIME = 0  # index of the time in a row

MS = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# kind -> (action, object_type, Sysmon EventID)
START = ("process_start", "process", 1)
CONNECT = ("network_connect", "socket", 3)
END = ("process_end", "process", 5)
LOAD = ("image_load", "module", 7)
ACCESS = ("process_access", "process", 10)
FILE = ("file_create", "file", 11)
REGISTRY = ("registry_set", "registry", 13)
DNS = ("dns_query", "domain", 22)


class Proc:
    """One process instance on a host."""

    __slots__ = (
        "command_line",
        "end_ns",
        "guid",
        "image",
        "parent_guid",
        "parent_image",
        "pid",
        "start_ns",
        "user",
    )

    def __init__(self, guid: str, pid: int, image: str, command_line: str, user: str,
                 parent: Proc | None, start_ns: int, end_ns: float) -> None:
        self.guid = guid
        self.pid = pid
        self.image = image
        self.command_line = command_line
        self.user = user
        self.parent_guid = parent.guid if parent is not None else None
        self.parent_image = parent.image if parent is not None else None
        self.start_ns = start_ns
        self.end_ns = end_ns

    @property
    def name(self) -> str:
        return self.image.rsplit("\\", 1)[-1].lower()


def process_guid(machine_id: str, t_ns: int, bits: int) -> str:
    """A Sysmon-shaped ProcessGuid: machine id, creation second (low, high 16 bits), 64 bits."""
    seconds = t_ns // SECOND
    return (f"{{{machine_id}-{seconds & 0xFFFF:04x}-{(seconds >> 16) & 0xFFFF:04x}-"
            f"{bits >> 48:04x}-{bits & 0xFFFFFFFFFFFF:012x}}}")


def event(t_ns: int, host: str, proc: Proc, kind: tuple[str, str, int], obj: str,
          obj_guid: str | None = None, label: str | None = None,
          chain: str | None = None) -> tuple:
    """One row: ``proc`` does ``kind`` to the object named ``obj``."""
    action, object_type, code = kind
    return (t_ns, host, proc.user, proc.guid, proc.pid, proc.image, proc.command_line,
            proc.parent_guid, proc.parent_image, action, object_type, obj, code,
            obj_guid, None, None, label, chain)


def start_event(t_ns: int, host: str, parent: Proc, child: Proc, label: str | None = None,
                chain: str | None = None) -> tuple:
    """The row of ``parent`` starting ``child`` (Sysmon EID 1, acting process = parent)."""
    return (t_ns, host, child.user, parent.guid, parent.pid, parent.image, parent.command_line,
            parent.parent_guid, parent.parent_image, "process_start", "process", child.image, 1,
            child.guid, child.pid, child.command_line, label, chain)


def end_event(t_ns: int, host: str, proc: Proc, label: str | None = None,
              chain: str | None = None) -> tuple:
    """The row of ``proc`` ending (Sysmon EID 5, the object is the process itself)."""
    return (t_ns, host, proc.user, proc.guid, proc.pid, proc.image, proc.command_line,
            proc.parent_guid, proc.parent_image, "process_end", "process", proc.image, 5,
            proc.guid, proc.pid, None, label, chain)


def iso_time(t_ns: int) -> str:
    """``2026-11-23T09:15:02.123Z`` (milliseconds, UTC), as the Sysmon reader writes times."""
    seconds, rest = divmod(t_ns, SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // MS:03d}Z"


def to_ns(moment: datetime | str) -> int:
    """Nanoseconds since the epoch of an ISO 8601 text or a datetime (a naive one is UTC)."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InputError(f"time {moment!r} is not ISO 8601") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * SECOND + delta.microseconds * 1000
