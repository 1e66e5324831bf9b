"""CERT insider-threat release reader: a r4.2 / r5.2 directory -> ``insider`` events in time order.

The CERT Insider Threat Test Dataset (Lindauer et al., CMU SEI, 2014-2016) publishes one CSV per
activity type, each sorted by ``date`` (``MM/DD/YYYY HH:MM:SS``):

====================  ===========================================================================
file                  columns (r4.2; r5.2 adds the ones in brackets)
====================  ===========================================================================
``logon.csv``         id, date, user, pc, activity (Logon / Logoff)
``device.csv``        id, date, user, pc, [file_tree,] activity (Connect / Disconnect)
``file.csv``          id, date, user, pc, filename, [activity, to_removable_media,
                      from_removable_media,] content
``email.csv``         id, date, user, pc, to, cc, bcc, from, [activity,] size, attachments, content
``http.csv``          id, date, user, pc, url, [activity (WWW Visit/Upload/Download),] content
====================  ===========================================================================

The five files are streamed with :mod:`csv` (quoted fields may hold commas and newlines) and
merged by time with :func:`heapq.merge`, so memory stays flat however large the release; a
missing or header-only file contributes nothing. A row that is cut short (a truncated last
record) or carries an unreadable date is skipped and counted, and each file's skips are
summarised in one log warning.

Each event gets the ``insider`` schema fields (``time`` ISO 8601, ``event_id``, ``user``, ``pc``,
``activity``, ``subtype``, ``object``) and the features that make the CERT scenarios visible:
``hour``, ``off_hours`` (before 07:00, from 19:00, or a weekend), ``new_pc`` (first activity of
the user on that pc), ``removable`` (device activity, or a file moved to or from removable
media), ``recipients``, ``external_recipients`` and ``attachments`` (email; ten or more
recipients make a ``mass`` email), ``domain_class`` (``job``, ``leak`` or ``cloud`` for known
site kinds). ``action`` is the activity type LAN works with (Cai et al.,
2024: activity type x hour): activity, subtype and the feature qualifiers joined by ``:``;
``history`` holds the user's previous :data:`HISTORY_LENGTH` activities as space-separated
``action@hour`` tokens, kept incrementally per user (the real-time context of each event).

When the directory holds an ``answers/`` folder (as in the published ``answers.tar.bz2``:
``insiders.csv`` plus one file per insider listing its malicious events as
``type,id,date,user,pc,...``), each event also gets ``label`` (1 = malicious) and ``scenario``
(the scenario number, 0 for normal events).
"""

from __future__ import annotations

import csv
import heapq
import logging
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd

from logguard.errors import InputError
from logguard.events.readers._io import open_text

log = logging.getLogger(__name__)

ACTIVITY_FILES = ("logon", "device", "file", "email", "http")
ORG_DOMAIN = "dtaa.com"
HISTORY_LENGTH = 32
# columns of the r4.2 files, used when a file has no header line (as some releases ship http.csv)
R42_COLUMNS = {
    "logon": ("id", "date", "user", "pc", "activity"),
    "device": ("id", "date", "user", "pc", "activity"),
    "file": ("id", "date", "user", "pc", "filename", "content"),
    "email": ("id", "date", "user", "pc", "to", "cc", "bcc", "from", "size", "attachments",
              "content"),
    "http": ("id", "date", "user", "pc", "url", "content"),
}
# keywords of the web-site kinds the r4.2 scenarios use (job search, leak sites, file hosting)
DOMAIN_CLASSES = (
    ("leak", ("wikileaks", "leak", "pastebin")),
    ("job", ("job", "career", "monster.com", "indeed", "simplyhired", "hire", "linkedin",
             "craigslist", "resume")),
    ("cloud", ("dropbox", "drive.google", "box.com", "onedrive", "mega.", "wetransfer")),
)
OFF_HOURS_START, OFF_HOURS_END = 19, 7
MASS_EMAIL_RECIPIENTS = 10
FRAME_COLUMNS = ("time", "event_id", "user", "pc", "activity", "subtype", "object", "hour",
                 "off_hours", "new_pc", "removable", "recipients", "external_recipients",
                 "attachments", "domain_class", "action", "history")
LABEL_COLUMNS = ("label", "scenario")
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})$")
_SCENARIO_IN_NAME = re.compile(r"r[\d.]+-(\d+)-")


def iter_cert(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream a CERT release directory (or one of its activity files) as ``insider`` frames."""
    files = _activity_files(path)
    answers = load_answers(path / "answers") if path.is_dir() else None
    events = heapq.merge(*(_iter_events(kind, p) for kind, p in files), key=lambda e: e[0])
    tracker = UserState()
    columns: dict[str, list] = {name: [] for name in FRAME_COLUMNS}
    if answers is not None:
        columns.update({name: [] for name in LABEL_COLUMNS})
    yielded = False
    for event in events:
        values = tracker.annotate(event)
        for name, value in zip(FRAME_COLUMNS, values, strict=True):
            columns[name].append(value)
        if answers is not None:
            scenario = answers.get(event[1], 0)
            columns["label"].append(int(scenario > 0))
            columns["scenario"].append(scenario)
        if len(columns["time"]) >= chunk_rows:
            yield _frame(columns)
            yielded, columns = True, {name: [] for name in columns}
    if columns["time"] or not yielded:
        yield _frame(columns)


def load_answers(folder: Path) -> dict[str, int] | None:
    """CERT ``answers/``: malicious event id -> scenario number (None when there is no folder).

    ``insiders.csv`` maps each per-insider file (its ``details`` column) to its ``scenario``;
    a file it does not list takes the scenario from its name (``r4.2-2-ABC0123.csv`` -> 2).
    """
    if not folder.is_dir():
        return None
    scenario_of: dict[str, int] = {}
    index = folder / "insiders.csv"
    if index.is_file():
        with open_text(index) as handle:
            for row in csv.DictReader(handle):
                details, scenario = (row.get("details") or "").strip(), row.get("scenario")
                if details and scenario and scenario.strip().isdigit():
                    scenario_of[Path(details).name] = int(scenario)
    labels: dict[str, int] = {}
    for answer_file in sorted(folder.rglob("*.csv")):
        if answer_file == index:
            continue
        scenario = scenario_of.get(answer_file.name)
        if scenario is None:
            match = _SCENARIO_IN_NAME.search(answer_file.name)
            scenario = int(match.group(1)) if match else 1
        with open_text(answer_file) as handle:
            for row in csv.reader(handle):
                if len(row) >= 2 and row[0].strip().lower() in ACTIVITY_FILES:
                    labels[row[1].strip()] = scenario
    return labels


def domain_class(domain: str) -> str:
    """``leak``, ``job`` or ``cloud`` when the domain names a site of that kind, else ``""``."""
    for name, keywords in DOMAIN_CLASSES:
        if any(k in domain for k in keywords):
            return name
    return ""


@dataclass
class UserState:
    """Per-user streaming state: the pcs seen and the last :data:`HISTORY_LENGTH` activities."""

    history_length: int = HISTORY_LENGTH
    pcs: dict[str, set[str]] = field(default_factory=dict)
    recent: dict[str, deque[str]] = field(default_factory=dict)

    def annotate(self, event: tuple) -> tuple:
        """The :data:`FRAME_COLUMNS` values of a parsed event, updating the user's state."""
        (time, event_id, user, pc, activity, subtype, obj, removable, recipients, external,
         attachments, site) = event
        hour = int(time[11:13])
        weekend = _is_weekend(time[:10])
        off_hours = weekend or hour < OFF_HOURS_END or hour >= OFF_HOURS_START
        seen = self.pcs.setdefault(user, set())
        new_pc = pc not in seen
        seen.add(pc)
        action = activity_action(activity, subtype, new_pc, removable, recipients, external,
                                 attachments, site, obj)
        recent = self.recent.setdefault(user, deque(maxlen=self.history_length))
        history = " ".join(recent)
        recent.append(f"{action}@{hour}")
        return (time, event_id, user, pc, activity, subtype, obj, hour, off_hours, new_pc,
                removable, recipients, external, attachments, site, action, history)


@lru_cache(maxsize=4096)
def _is_weekend(day: str) -> bool:
    return date.fromisoformat(day).weekday() >= 5


def activity_action(activity: str, subtype: str, new_pc: bool, removable: bool,
                    recipients: int, external: int, attachments: int, site: str,
                    obj: str) -> str:
    """The activity type: ``activity:subtype`` plus the qualifiers that matter for insiders."""
    parts = [activity, subtype]
    if activity == "logon" and new_pc:
        parts.append("newpc")
    elif activity == "file":
        if removable:
            parts.append("removable")
        if obj in ("exe", "dll", "bat", "ps1", "msi", "vbs"):
            parts.append("exe")
    elif activity == "email":
        parts.append("external" if external else "internal")
        if attachments:
            parts.append("attachment")
        if recipients >= MASS_EMAIL_RECIPIENTS:
            parts.append("mass")
    elif activity == "http" and site:
        parts.append(site)
    return ":".join(parts)


# ---------------------------------------------------------------------- parsing one file
def _activity_files(path: Path) -> list[tuple[str, Path]]:
    if path.is_file():
        kind = path.name.lower().split(".")[0]
        if kind not in ACTIVITY_FILES:
            raise InputError(f"{path}: not a CERT activity file (expected one of "
                             f"{', '.join(f'{k}.csv' for k in ACTIVITY_FILES)})")
        return [(kind, path)]
    found = []
    for kind in ACTIVITY_FILES:
        for name in (f"{kind}.csv", f"{kind}.csv.gz"):
            if (path / name).is_file():
                found.append((kind, path / name))
                break
    if not found:
        log.warning("cert: %s holds none of %s", path,
                    ", ".join(f"{k}.csv" for k in ACTIVITY_FILES))
    return found


def _iter_events(kind: str, path: Path) -> Iterator[tuple]:
    """Parsed events of one activity file, in file order; skipped rows summarised once."""
    skipped: Counter[str] = Counter()
    parse = _PARSERS[kind]
    with open_text(path) as handle:
        rows = csv.reader(handle)
        header, first = _header(rows, kind)
        if first is not None:
            rows = _chain_first(first, rows)
        width = len(header)
        at = {name: i for i, name in enumerate(header)}
        for line, row in enumerate(rows, start=2):
            if len(row) < width:
                skipped["cut-short row"] += 1
                log.debug("cert: %s row at line ~%d has %d of %d fields", path, line, len(row),
                          width)
                continue
            time = _iso_time(row[at["date"]])
            if time is None:
                skipped["unreadable date"] += 1
                continue
            yield parse(row, at, time)
    if skipped:
        log.warning("cert: %s: skipped %s", path,
                    ", ".join(f"{n} {reason}{'s' if n > 1 else ''}"
                              for reason, n in skipped.items()))


def _header(rows: Iterator[list[str]], kind: str) -> tuple[tuple[str, ...], list[str] | None]:
    """The column names, and the first data row when the file has no header line."""
    first = next(rows, None)
    if first is None:
        return R42_COLUMNS[kind], None
    names = tuple(c.strip().lstrip("\ufeff").lower() for c in first)  # a UTF-8 BOM too
    if names and names[0] == "id":
        missing = [c for c in R42_COLUMNS[kind][:4] if c not in names]
        if missing:
            raise InputError(f"{kind}.csv: column(s) {', '.join(map(repr, missing))} missing; "
                             f"it has {', '.join(map(repr, names))}")
        return names, None
    return R42_COLUMNS[kind], first


def _chain_first(first: list[str], rest: Iterable[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def _iso_time(text: str) -> str | None:
    match = _DATE.match(text.strip())
    if match is None:
        return None
    month, day, year, hour, minute, second = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}T{int(hour):02d}:{minute}:{second}"


def _subtype(row: list[str], at: dict[str, int], default: str) -> str:
    index = at.get("activity")
    text = row[index].strip().lower() if index is not None else ""
    for prefix in ("www ", "file "):
        text = text.removeprefix(prefix)
    return re.sub(r"\s+", "_", text) or default


def _logon(row, at, time):
    return (time, row[at["id"]], row[at["user"]], row[at["pc"]], "logon",
            _subtype(row, at, "logon"), "", False, 0, 0, 0, "")


def _device(row, at, time):
    return (time, row[at["id"]], row[at["user"]], row[at["pc"]], "device",
            _subtype(row, at, "connect"), "removable", True, 0, 0, 0, "")


def _file(row, at, time):
    name = row[at["filename"]].strip()
    extension = name.rsplit(".", 1)[1].lower() if "." in name.rsplit("\\", 1)[-1] else ""
    removable = any(row[at[c]].strip().lower() == "true"
                    for c in ("to_removable_media", "from_removable_media") if c in at)
    return (time, row[at["id"]], row[at["user"]], row[at["pc"]], "file",
            _subtype(row, at, "access"), extension, removable, 0, 0, 0, "")


def _email(row, at, time):
    recipients = [r.strip().lower() for c in ("to", "cc", "bcc") if c in at
                  for r in row[at[c]].split(";") if r.strip()]
    external = sum(not r.endswith("@" + ORG_DOMAIN) for r in recipients)
    text = row[at["attachments"]].strip() if "attachments" in at else ""
    attachments = int(text) if text.isdigit() else len([a for a in text.split(";") if a])
    return (time, row[at["id"]], row[at["user"]], row[at["pc"]], "email",
            _subtype(row, at, "send"), "external" if external else "internal", False,
            len(recipients), external, attachments, "")


def _http(row, at, time):
    url = row[at["url"]].strip().lower()
    domain = url.split("://", 1)[-1].split("/", 1)[0].removeprefix("www.")
    return (time, row[at["id"]], row[at["user"]], row[at["pc"]], "http",
            _subtype(row, at, "visit"), domain, False, 0, 0, 0, domain_class(domain))


_PARSERS = {"logon": _logon, "device": _device, "file": _file, "email": _email, "http": _http}


def _frame(columns: dict[str, list]) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for name in ("hour", "recipients", "external_recipients", "attachments", *LABEL_COLUMNS):
        if name in frame:
            frame[name] = frame[name].astype("int64")
    for name in ("off_hours", "new_pc", "removable"):
        frame[name] = frame[name].astype(bool)
    return frame
