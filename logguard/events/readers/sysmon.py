"""Sysmon reader: Windows event JSON lines (OTRF / Mordor recordings) as ``process`` events.

Input: one Windows event per line, either flat (``EventID``, ``Channel``, ``Hostname``,
``UtcTime``, ``ProcessGuid`` ... at the top level, as in OTRF Security-Datasets) or in the
winlogbeat shape (``event_id``, ``log_name``, ``computer_name`` and the Sysmon fields under
``event_data``). A path may be a plain ``.json``/``.jsonl`` file, a ``.gz``, a ``.zip`` or
``.tar.gz``/``.tgz`` archive holding one JSON-lines file, or a directory, walked recursively in
sorted order, every recording in it read. Files of another kind (the ``_metadata`` YAML) and
recordings without Windows events (Linux, AWS) are skipped with a one-line log note.

Only the ``Microsoft-Windows-Sysmon/Operational`` channel is mapped; other channels and Sysmon
event ids outside :data:`SYSMON_ACTIONS` are skipped, counted, and summarised in one log line
per recording. Rows follow ``schemas/process.schema.json``, keyed by the acting process's
``ProcessGuid``:

========  ======================  ===========  ==========================================
EventID   action                  object_type  object_name
========  ======================  ===========  ==========================================
1         process_start           process      the new (child) process's image
3         network_connect         socket       ``DestinationIp:DestinationPort``
5         process_end             process      the process's own image
7         image_load              module       ``ImageLoaded``
8         remote_thread           process      ``TargetImage``
10        process_access          process      ``TargetImage``
11        file_create             file         ``TargetFilename``
12        registry_create_delete  registry     ``TargetObject``
13        registry_set            registry     ``TargetObject``
14        registry_rename         registry     ``TargetObject``
17, 18    pipe                    pipe         ``PipeName``
22        dns_query               domain       ``QueryName``
23, 26    file_delete             file         ``TargetFilename``
========  ======================  ===========  ==========================================

**Process start (EID 1) is an edge parent -> child.** The acting process of the row is the
*parent*: ``process_guid``/``process_id``/``image``/``command_line`` are Sysmon's
``ParentProcessGuid``/``ParentProcessId``/``ParentImage``/``ParentCommandLine``; the child is
the object: ``object_name`` is its image, and the extra columns ``object_guid``,
``object_process_id`` and ``object_command_line`` carry its GUID, pid and command line.
``user`` is the account of the new process (the only one Sysmon reports). ``parent_guid`` and
``parent_image`` are the acting process's own parent where the event names it (EID 1 does not:
they stay empty there). For EID 8 and 10 the acting process is the source
(``SourceProcessGuid``/``SourceImage``) and ``object_guid`` the target's GUID; for EID 5 the
object is the process itself. Every row carries ``recording``: the file name it came from.

``time`` is Sysmon's ``UtcTime`` as ISO 8601 with ``Z`` (the winlogbeat ``@timestamp`` when
``UtcTime`` is missing). Values are kept verbatim as text.
"""

from __future__ import annotations

import logging
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import IO, Any

import orjson
import pandas as pd

from logguard.errors import InputError
from logguard.events.readers._io import open_binary

log = logging.getLogger(__name__)

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
SYSMON_ACTIONS: dict[int, tuple[str, str]] = {
    1: ("process_start", "process"),
    3: ("network_connect", "socket"),
    5: ("process_end", "process"),
    7: ("image_load", "module"),
    8: ("remote_thread", "process"),
    10: ("process_access", "process"),
    11: ("file_create", "file"),
    12: ("registry_create_delete", "registry"),
    13: ("registry_set", "registry"),
    14: ("registry_rename", "registry"),
    17: ("pipe", "pipe"),
    18: ("pipe", "pipe"),
    22: ("dns_query", "domain"),
    23: ("file_delete", "file"),
    26: ("file_delete", "file"),
}
COLUMNS = (
    "time", "host", "user", "process_guid", "process_id", "image", "command_line",
    "parent_guid", "parent_image", "action", "object_type", "object_name", "event_code",
    "object_guid", "object_process_id", "object_command_line", "recording",
)
RECORDING_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".json", ".jsonl", ".json.gz", ".jsonl.gz")
_PROBE_LINES = 200  # a recording with no Windows event in its first lines is not a Windows one


def iter_sysmon(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream the Sysmon events of ``path`` (file or directory) as ``process`` rows."""
    rows: list[dict[str, Any]] = []
    for recording in _recordings(path):
        for row in _recording_rows(recording):
            rows.append(row)
            if len(rows) >= chunk_rows:
                yield _frame(rows)
                rows = []
    if rows:
        yield _frame(rows)


def is_recording(path: Path) -> bool:
    """Whether ``path``'s name looks like an event recording (archive or JSON lines)."""
    return path.name.lower().endswith(RECORDING_SUFFIXES)


def _recordings(path: Path) -> Iterator[Path]:
    if not path.is_dir():
        yield path
        return
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        if is_recording(child):
            yield child
        else:
            log.info("sysmon: skipped %s (not an event recording)", child)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    for column in ("process_id", "object_process_id", "event_code"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _recording_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of one recording, with a one-line summary of what was skipped."""
    skipped: Counter[str] = Counter()
    mapped = 0
    windows_seen = False
    for number, record in enumerate(_json_records(path), start=1):
        if not isinstance(record, dict):
            skipped["not an object"] += 1
            continue
        event = _flatten(record)
        channel = event.get("Channel")
        if channel is None:
            if not windows_seen and number >= _PROBE_LINES:
                log.info("sysmon: skipped %s (not a Windows event recording)", path)
                return
            skipped["no channel"] += 1
            continue
        windows_seen = True
        if channel != SYSMON_CHANNEL:
            skipped[f"channel {channel}"] += 1
            continue
        code = _int(event.get("EventID"))
        if code not in SYSMON_ACTIONS:
            skipped[f"sysmon {code}"] += 1
            continue
        mapped += 1
        yield _row(event, code, path.name)
    if not windows_seen:
        log.info("sysmon: skipped %s (not a Windows event recording)", path)
        return
    log.info("sysmon: %s: %d process events; skipped %d (%s)", path.name, mapped,
             sum(skipped.values()), ", ".join(f"{k}: {v}" for k, v in skipped.most_common()))


def _json_records(path: Path) -> Iterator[Any]:
    """Parsed JSON lines of a recording; a line that is not JSON is skipped with a warning."""
    bad = 0
    for line in _lines(path):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError:
            bad += 1
    if bad:
        log.warning("sysmon: %s: %d line(s) are not JSON and were skipped", path, bad)


def _lines(path: Path) -> Iterable[bytes]:
    name = path.name.lower()
    try:
        if name.endswith((".tar.gz", ".tgz")):
            yield from _tar_lines(path)
            return
        with closing(open_binary(path)) as handle:
            yield from handle
    except (OSError, EOFError, tarfile.TarError, ValueError) as exc:
        raise InputError(f"{path}: not a readable recording: {exc}") from exc


def _tar_lines(path: Path) -> Iterator[bytes]:
    """Lines of the first regular member of a tar.gz, read as a stream."""
    with tarfile.open(path, mode="r|gz") as archive:
        for member in archive:
            if member.isfile():
                handle: IO[bytes] | None = archive.extractfile(member)
                if handle is not None:
                    yield from handle
                return


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One flat dict in OTRF's flat field names, whatever the shipper's shape."""
    data = record.get("event_data")
    if not isinstance(data, dict):
        return record
    event = dict(data)
    event["Channel"] = record.get("log_name") or record.get("channel")
    event["EventID"] = record.get("event_id")
    event["Hostname"] = record.get("computer_name") or (record.get("host") or {}).get("name")
    event["@timestamp"] = record.get("@timestamp")
    return event


def _row(event: dict[str, Any], code: int, recording: str) -> dict[str, Any]:
    action, object_type = SYSMON_ACTIONS[code]
    row: dict[str, Any] = {
        "time": _time(event),
        "host": _text(event.get("Hostname")),
        "user": _text(event.get("User")),
        "process_guid": _text(event.get("ProcessGuid")),
        "process_id": _int(event.get("ProcessId")),
        "image": _text(event.get("Image")),
        "action": action,
        "object_type": object_type,
        "event_code": code,
        "recording": recording,
    }
    if code == 1:
        row.update(
            process_guid=_text(event.get("ParentProcessGuid")),
            process_id=_int(event.get("ParentProcessId")),
            image=_text(event.get("ParentImage")),
            command_line=_text(event.get("ParentCommandLine")),
            object_name=_text(event.get("Image")),
            object_guid=_text(event.get("ProcessGuid")),
            object_process_id=_int(event.get("ProcessId")),
            object_command_line=_text(event.get("CommandLine")),
        )
    elif code in (8, 10):
        row.update(
            process_guid=_text(event.get("SourceProcessGuid") or event.get("SourceProcessGUID")),
            process_id=_int(event.get("SourceProcessId")),
            image=_text(event.get("SourceImage")),
            object_name=_text(event.get("TargetImage")),
            object_guid=_text(event.get("TargetProcessGuid") or event.get("TargetProcessGUID")),
            object_process_id=_int(event.get("TargetProcessId")),
        )
    elif code == 5:
        row.update(object_name=row["image"], object_guid=row["process_guid"],
                   object_process_id=row["process_id"])
    elif code == 3:
        row["object_name"] = _endpoint(event.get("DestinationIp"), event.get("DestinationPort"))
    else:
        row["object_name"] = _text(event.get(_OBJECT_FIELD[object_type]))
    return row


_OBJECT_FIELD = {"module": "ImageLoaded", "file": "TargetFilename", "registry": "TargetObject",
                 "pipe": "PipeName", "domain": "QueryName"}


def _endpoint(ip: Any, port: Any) -> str | None:
    ip_text = _text(ip)
    if ip_text is None:
        return None
    host = f"[{ip_text}]" if ":" in ip_text else ip_text
    return f"{host}:{_text(port) or ''}"


def _time(event: dict[str, Any]) -> str | None:
    utc = _text(event.get("UtcTime"))
    if utc:
        return utc.replace(" ", "T", 1) + "Z"
    return _text(event.get("@timestamp"))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str):
            return int(value, 16) if value.lower().startswith("0x") else int(value)
        return int(value)
    except (TypeError, ValueError):
        return None
