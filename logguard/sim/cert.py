"""A CERT-layout organisation simulator with the three r4.2 insider scenarios and ``answers/``.

Real CERT releases cannot ship with logguard, so this writes a small organisation in the
published layout (Lindauer et al., "Generating Test Data for Insider Threat Detectors", JWIS
2014): ``logon.csv``, ``device.csv``, ``file.csv``, ``email.csv``, ``http.csv`` (r4.2 or r5.2
columns, dates ``MM/DD/YYYY HH:MM:SS``, each file sorted by date), monthly ``LDAP/*.csv``,
``psychometric.csv`` and ``answers/`` (``insiders.csv`` plus one file per insider listing its
malicious events as ``type,<the event's row>``, like ``answers.tar.bz2``).

Every user has a role, an own pc, working hours (start ~ N(8, 0.6) h, about 9 h long), a set
of favourite web sites, colleagues to email, file habits and, for a fifth of them, the habit of
using a thumb drive in office hours. On weekdays a user logs on, browses (Poisson 12; one
visit in 500 to a job site), emails (Poisson 4), opens files (Poisson 3), maybe uses the thumb
drive, and logs off.

The injectable scenarios (r4.2 ``answers`` numbering) are:

1. ``after_hours_leak``: a user who never used removable media starts logging on after hours,
   connecting a thumb drive and uploading to wikileaks.org;
2. ``job_search_theft``: a user browses job sites for weeks, then copies many files to a
   thumb drive in the last days before leaving the organisation;
3. ``admin_keylogger``: an IT administrator downloads a keylogger, copies it from a thumb drive
   to his supervisor's pc, and the next day logs on as the supervisor and sends a mass email;
   he then leaves.
"""

from __future__ import annotations

import csv
import random
import string
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from logguard.events.readers import read_frame
from logguard.events.readers.cert import ORG_DOMAIN, R42_COLUMNS

SCENARIOS = {1: "after_hours_leak", 2: "job_search_theft", 3: "admin_keylogger"}
ROLES = ("Salesman", "Engineer", "Accountant", "Manager", "ITAdmin", "Scientist")
NORMAL_SITES = ("espn.com", "cnn.com", "bbc.co.uk", "weather.com", "amazon.com", "nytimes.com",
                "wikipedia.org", "stackoverflow.com", "github.com", "reuters.com", "ebay.com",
                "yahoo.com", "msn.com", "forbes.com", "imdb.com", "nasa.gov", "python.org",
                "bloomberg.com", "time.com", "nationalgeographic.com")
JOB_SITES = ("monster.com", "careerbuilder.com", "indeed.com", "simplyhired.com")
FILE_TYPES = ("doc", "pdf", "xls", "txt", "zip", "jpg")
EXTERNAL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "comcast.net")
COLUMNS = {
    "r4.2": R42_COLUMNS,
    "r5.2": {
        "logon": ("id", "date", "user", "pc", "activity"),
        "device": ("id", "date", "user", "pc", "file_tree", "activity"),
        "file": ("id", "date", "user", "pc", "filename", "activity", "to_removable_media",
                 "from_removable_media", "content"),
        "email": ("id", "date", "user", "pc", "to", "cc", "bcc", "from", "activity", "size",
                  "attachments", "content"),
        "http": ("id", "date", "user", "pc", "url", "activity", "content"),
    },
}


@dataclass
class User:
    """One employee: identity, role, own pc and habits."""

    user_id: str
    name: str
    role: str
    pc: str
    start_hour: float
    hours: float
    sites: list[str]
    contacts: list[str]
    thumb_drive: bool
    supervisor: str = ""
    leaves: date | None = None


@dataclass
class Event:
    """One activity row before it is written: kind, time, user, pc and its type's fields."""

    kind: str
    time: datetime
    user: str
    pc: str
    fields: dict[str, str] = field(default_factory=dict)
    scenario: int = 0
    event_id: str = ""


def simulate_cert(out: str | Path, *, n_users: int = 40, start: str = "2010-01-04",
                  days: int = 56, seed: int = 0, scenarios: Sequence[int] = (1, 2, 3),
                  layout: str = "r4.2", attack_start: str | None = None) -> dict[int, list[str]]:
    """Write a CERT-layout release into ``out``; returns scenario -> the insiders' user ids.

    The insiders act from ``attack_start`` (ISO day; default: the start of the last quarter
    of the period, so a model trained on the first part of the timeline and tested on the
    rest sees every scenario in its test part). Scenario 1's first night is the day after.
    """
    if layout not in COLUMNS:
        raise ValueError(f"layout must be one of {', '.join(COLUMNS)}, not {layout!r}")
    rng = random.Random(f"cert:{seed}")
    first_day = date.fromisoformat(start)
    users = _organisation(n_users, rng)
    insiders = _choose_insiders(users, scenarios, rng)
    events = [e for u in users for e in _normal_days(u, first_day, days, rng)]
    acts_from = (date.fromisoformat(attack_start) if attack_start is not None
                 else first_day + timedelta(days=int(days * 0.75)))
    for scenario, user in insiders.items():
        events.extend(_SCENARIO_EVENTS[scenario](user, users, acts_from, rng))
    for scenario, user in insiders.items():
        if scenario in (2, 3):
            last_day = max(e.time.date() for e in events if e.scenario == scenario)
            user.leaves = last_day + timedelta(days=1)
            events = [e for e in events if e.user != user.user_id or e.scenario
                      or e.time.date() < user.leaves]
    events.sort(key=lambda e: (e.time, e.kind))
    for event in events:
        event.event_id = _event_id(rng)
    _write_release(Path(out), users, events, insiders, first_day, days, layout)
    return {s: [u.user_id] for s, u in insiders.items()}


def simulated_activity(*, n_users: int = 8, days: int = 10, seed: int = 0,
                       scenarios: Sequence[int] = (), layout: str = "r5.2",
                       start: str = "2010-01-04", attack_start: str | None = None
                       ) -> pd.DataFrame:
    """The ``cert`` reader's frame of a simulated release, LAN's columns (action, hour,
    history) first; the release is written to a temporary folder and removed."""
    with tempfile.TemporaryDirectory(prefix="logguard-cert-") as folder:
        simulate_cert(folder, n_users=n_users, start=start, days=days, seed=seed,
                      scenarios=scenarios, layout=layout, attack_start=attack_start)
        frame = read_frame(folder, "cert")
    first = ["action", "hour", "history"]
    return frame[first + [c for c in frame.columns if c not in first]]


# ---------------------------------------------------------------------- the organisation
def _organisation(n_users: int, rng: random.Random) -> list[User]:
    if n_users < 4:
        raise ValueError("the organisation needs at least 4 users")
    users, taken = [], set()
    while len(users) < n_users:
        letters = "".join(rng.choices(string.ascii_uppercase, k=3))
        user_id = f"{letters}{rng.randrange(10_000):04d}"
        if user_id in taken:
            continue
        taken.add(user_id)
        role = "ITAdmin" if len(users) % 10 == 0 else rng.choice(ROLES)
        users.append(User(user_id=user_id, name=f"Employee {user_id}", role=role,
                          pc=f"PC-{rng.randrange(10_000):04d}",
                          start_hour=rng.gauss(8.0, 0.6), hours=rng.uniform(8.0, 9.5),
                          sites=rng.sample(NORMAL_SITES, 6), contacts=[],
                          thumb_drive=rng.random() < 0.2))
    ids = [u.user_id for u in users]
    for i, user in enumerate(users):
        team = ids[max(0, i - 4): i + 5]
        user.contacts = [f"{c.lower()}@{ORG_DOMAIN}" for c in team if c != user.user_id]
        user.contacts.append(f"friend{rng.randrange(100)}@{rng.choice(EXTERNAL_DOMAINS)}")
        user.supervisor = ids[(i // 8) * 8] if (i // 8) * 8 != i else ids[(i + 1) % len(ids)]
    return users


def _choose_insiders(users: list[User], scenarios: Sequence[int],
                     rng: random.Random) -> dict[int, User]:
    chosen: dict[int, User] = {}
    for scenario in scenarios:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario}; known: {sorted(SCENARIOS)}")
        taken = {u.user_id for u in chosen.values()}
        pool = [u for u in users if u.user_id not in taken and
                (u.role == "ITAdmin") == (scenario == 3) and not u.thumb_drive]
        chosen[scenario] = rng.choice(pool)
    return chosen


# ---------------------------------------------------------------------- normal behaviour
def _normal_days(user: User, first_day: date, days: int, rng: random.Random) -> Iterator[Event]:
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day.weekday() >= 5 and rng.random() > 0.03:
            continue
        begin = datetime.combine(day, datetime.min.time()) + timedelta(
            hours=user.start_hour + rng.gauss(0, 0.25))
        end = begin + timedelta(hours=user.hours + rng.gauss(0, 0.3))

        def at(begin: datetime = begin, end: datetime = end) -> datetime:
            return begin + (end - begin) * rng.uniform(0.02, 0.98)

        yield Event("logon", begin, user.user_id, user.pc, {"activity": "Logon"})
        for _ in range(_poisson(rng, 12)):
            site = rng.choice(JOB_SITES) if rng.random() < 0.002 else rng.choice(user.sites)
            yield _visit(user, at(), site, rng)
        for _ in range(_poisson(rng, 4)):
            yield _email(user, at(), rng.sample(user.contacts, rng.randint(1, 2)), rng)
        for _ in range(_poisson(rng, 3)):
            yield _file(user, at(), f"C:\\docs\\{_word(rng)}.{rng.choice(FILE_TYPES)}", "open",
                        removable=False)
        if user.thumb_drive and rng.random() < 0.3:
            plugged = at()
            yield Event("device", plugged, user.user_id, user.pc, {"activity": "Connect"})
            yield _file(user, plugged + timedelta(minutes=2), f"R:\\{_word(rng)}.doc", "copy",
                        removable=True)
            yield Event("device", plugged + timedelta(minutes=rng.randint(5, 40)), user.user_id,
                        user.pc, {"activity": "Disconnect"})
        yield Event("logon", end, user.user_id, user.pc, {"activity": "Logoff"})


def _visit(user: User, when: datetime, site: str, rng: random.Random, *,
           activity: str = "WWW Visit", scenario: int = 0, pc: str | None = None) -> Event:
    url = f"http://www.{site}/{_word(rng)}/{_word(rng)}.html"
    return Event("http", when, user.user_id, pc or user.pc,
                 {"url": url, "activity": activity, "content": f"{_word(rng)}, {_word(rng)}"},
                 scenario)


def _email(user: User, when: datetime, recipients: list[str], rng: random.Random, *,
           attachments: int = 0, scenario: int = 0, sender: str | None = None,
           pc: str | None = None) -> Event:
    return Event("email", when, sender or user.user_id, pc or user.pc,
                 {"to": ";".join(recipients), "cc": "", "bcc": "",
                  "from": f"{(sender or user.user_id).lower()}@{ORG_DOMAIN}", "activity": "Send",
                  "size": str(rng.randint(1_000, 60_000)), "attachments": str(attachments),
                  "content": f"{_word(rng)} {_word(rng)}, {_word(rng)}\n{_word(rng)}"},
                 scenario)


def _file(user: User, when: datetime, filename: str, activity: str, *, removable: bool,
          from_removable: bool = False, scenario: int = 0, pc: str | None = None) -> Event:
    return Event("file", when, user.user_id, pc or user.pc,
                 {"filename": filename, "activity": f"File {activity.title()}",
                  "to_removable_media": str(removable), "content": "text",
                  "from_removable_media": str(from_removable)}, scenario)


# ---------------------------------------------------------------------- the three scenarios
def _after_hours_leak(user: User, users: list[User], start: date,
                      rng: random.Random) -> Iterator[Event]:
    for night in range(3):
        day = start + timedelta(days=2 * night + 1)
        t = datetime.combine(day, datetime.min.time()) + timedelta(hours=rng.uniform(21, 23.5))
        yield Event("logon", t, user.user_id, user.pc, {"activity": "Logon"}, 1)
        yield Event("device", t + timedelta(minutes=1), user.user_id, user.pc,
                    {"activity": "Connect"}, 1)
        for i in range(3):
            yield _file(user, t + timedelta(minutes=2 + i), f"R:\\{_word(rng)}.doc", "copy",
                        removable=True, scenario=1)
        yield _visit(user, t + timedelta(minutes=8), "wikileaks.org", rng,
                     activity="WWW Upload", scenario=1)
        yield Event("device", t + timedelta(minutes=10), user.user_id, user.pc,
                    {"activity": "Disconnect"}, 1)
        yield Event("logon", t + timedelta(minutes=12), user.user_id, user.pc,
                    {"activity": "Logoff"}, 1)


def _job_search_theft(user: User, users: list[User], start: date,
                      rng: random.Random) -> Iterator[Event]:
    for offset in range(10):
        day = start + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        base = datetime.combine(day, datetime.min.time()) + timedelta(hours=user.start_hour + 1)
        for _ in range(rng.randint(3, 6)):
            yield _visit(user, base + timedelta(minutes=rng.uniform(0, 400)),
                         rng.choice(JOB_SITES), rng, scenario=2)
    theft_day = start + timedelta(days=12)
    while theft_day.weekday() >= 5:
        theft_day += timedelta(days=1)
    t = datetime.combine(theft_day, datetime.min.time()) + timedelta(hours=user.start_hour + 2)
    yield Event("device", t, user.user_id, user.pc, {"activity": "Connect"}, 2)
    for i in range(12):
        yield _file(user, t + timedelta(minutes=1 + i), f"R:\\{_word(rng)}.pdf", "copy",
                    removable=True, scenario=2)
    yield Event("device", t + timedelta(minutes=20), user.user_id, user.pc,
                {"activity": "Disconnect"}, 2)


def _admin_keylogger(user: User, users: list[User], start: date,
                     rng: random.Random) -> Iterator[Event]:
    boss = next(u for u in users if u.user_id == user.supervisor)
    day = start + timedelta(days=3)
    while day.weekday() >= 4:
        day += timedelta(days=1)
    t = datetime.combine(day, datetime.min.time()) + timedelta(hours=user.start_hour + 3)
    yield _visit(user, t, "keylogger-download.com", rng, activity="WWW Download", scenario=3)
    yield Event("logon", t + timedelta(minutes=30), user.user_id, boss.pc,
                {"activity": "Logon"}, 3)
    yield Event("device", t + timedelta(minutes=31), user.user_id, boss.pc,
                {"activity": "Connect"}, 3)
    yield _file(user, t + timedelta(minutes=32), "C:\\Windows\\klog.exe", "copy",
                removable=False, from_removable=True, scenario=3, pc=boss.pc)
    yield Event("device", t + timedelta(minutes=33), user.user_id, boss.pc,
                {"activity": "Disconnect"}, 3)
    yield Event("logon", t + timedelta(minutes=34), user.user_id, boss.pc,
                {"activity": "Logoff"}, 3)
    night = datetime.combine(day + timedelta(days=1), datetime.min.time()) + timedelta(hours=22)
    yield Event("logon", night, boss.user_id, user.pc, {"activity": "Logon"}, 3)
    everyone = [f"{u.user_id.lower()}@{ORG_DOMAIN}" for u in users]
    for i in range(2):
        yield _email(boss, night + timedelta(minutes=3 + i), everyone, rng, scenario=3,
                     pc=user.pc)
    yield Event("logon", night + timedelta(minutes=9), boss.user_id, user.pc,
                {"activity": "Logoff"}, 3)


_SCENARIO_EVENTS = {1: _after_hours_leak, 2: _job_search_theft, 3: _admin_keylogger}


# ---------------------------------------------------------------------- writing the layout
def _write_release(out: Path, users: list[User], events: list[Event], insiders: dict[int, User],
                   first_day: date, days: int, layout: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    columns = COLUMNS[layout]
    handles = {kind: (out / f"{kind}.csv").open("w", newline="") for kind in columns}
    try:
        writers = {kind: csv.writer(h) for kind, h in handles.items()}
        for kind, writer in writers.items():
            writer.writerow(columns[kind])
        for event in events:
            writers[event.kind].writerow(_row(event, columns[event.kind]))
    finally:
        for handle in handles.values():
            handle.close()
    _write_ldap(out / "LDAP", users, first_day, days)
    with (out / "psychometric.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("employee_name", "user_id", "O", "C", "E", "A", "N"))
        rng = random.Random(len(users))
        for user in users:
            writer.writerow((user.name, user.user_id,
                             *(rng.randint(10, 50) for _ in range(5))))
    _write_answers(out / "answers", events, insiders, columns)


def _row(event: Event, columns: Sequence[str]) -> list[str]:
    values = {"id": event.event_id, "date": event.time.strftime("%m/%d/%Y %H:%M:%S"),
              "user": event.user, "pc": event.pc, "file_tree": "R:\\", **event.fields}
    return [values.get(c, "") for c in columns]


def _write_ldap(folder: Path, users: list[User], first_day: date, days: int) -> None:
    folder.mkdir(exist_ok=True)
    month = first_day.replace(day=1)
    last = first_day + timedelta(days=days)
    while month <= last:
        with (folder / f"{month:%Y-%m}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("employee_name", "user_id", "email", "role", "business_unit",
                             "functional_unit", "department", "team", "supervisor"))
            for user in users:
                if user.leaves is None or user.leaves > month:
                    writer.writerow((user.name, user.user_id,
                                     f"{user.user_id.lower()}@{ORG_DOMAIN}", user.role, "1",
                                     "Operations", "Dept", "Team", user.supervisor))
        month = (month + timedelta(days=32)).replace(day=1)


def _write_answers(folder: Path, events: list[Event], insiders: dict[int, User],
                   columns: dict[str, tuple[str, ...]]) -> None:
    folder.mkdir(exist_ok=True)
    with (folder / "insiders.csv").open("w", newline="") as handle:
        index = csv.writer(handle)
        index.writerow(("dataset", "scenario", "details", "user", "start", "end"))
        for scenario, user in sorted(insiders.items()):
            rows = [e for e in events if e.scenario == scenario]
            details = f"r4.2-{scenario}-{user.user_id}.csv"
            index.writerow(("4.2", scenario, details, user.user_id,
                            rows[0].time.strftime("%m/%d/%Y %H:%M:%S"),
                            rows[-1].time.strftime("%m/%d/%Y %H:%M:%S")))
            (folder / f"r4.2-{scenario}").mkdir(exist_ok=True)
            with (folder / f"r4.2-{scenario}" / details).open("w", newline="") as detail:
                writer = csv.writer(detail)
                for event in rows:
                    writer.writerow((event.kind, *_row(event, columns[event.kind])))


# ---------------------------------------------------------------------- helpers
def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw by counting exponential gaps (Knuth's method is fine for small means)."""
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 8)))


def _event_id(rng: random.Random) -> str:
    alphabet = string.ascii_uppercase + string.digits
    parts = ("".join(rng.choices(alphabet, k=n)) for n in (4, 8, 8))
    return "{" + "-".join(parts) + "}"
