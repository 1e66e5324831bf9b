"""Attacker processes of an OTRF atomic recording, from its ``_metadata`` ``adversary_view``.

OTRF Security-Datasets label recordings, not events: each ``_metadata/*.yaml`` names the
recording files (``files[].link``) and pastes the attacker's console (``adversary_view``). The
matching rule, applied to the recording's ``process`` events (Sysmon reader rows):

1. **Commands.** Every console line with a prompt (``(Empire: X) >``, ``(wardog) >``,
   ``PS C:\\...>``, ``C:\\...>``, ``msf5 ... >``, ``meterpreter >``) gives the text after the
   prompt. C2 control verbs (``agents``, ``interact``, ``usemodule``, ``info``, ``execute``,
   ``set``, ``back`` ...) are dropped, except ``set ProcName X`` (the process the module
   injects into: ``X.exe``). C2 wrappers are unwrapped: ``shell X``, ``scriptcmd X``,
   ``powershell X`` and ``/shellcommand:"X"`` give ``X``.
2. **Tools.** From each command: every ``*.exe`` named in it, and its first word (when it is a
   plain word such as ``net``, ``reg``, ``sc``) as ``<word>.exe``. A command that runs a
   program through a launcher names that payload program too, by its first word: PsExec
   (``psexec [\\host] [-options] PROGRAM ...``, options and the values of ``-u -p -w -n -r
   -a`` skipped; its service ``PSEXESVC`` starts PROGRAM) and WMI
   (``wmic ... process call create "PROGRAM ..."``; ``WmiPrvSE`` starts PROGRAM, on this or
   the ``/node:`` host). The payload's command line as recorded need not contain the console
   text (``%temp%`` expanded, ``$$`` eaten by PowerShell), so it is matched by program.
3. **Agents.** Rows of Empire's agent table (``NAME ps IP MACHINE USER PROCESS PID ...``) name
   an attacker process by image name, PID and machine. Meterpreter's ``shell`` and
   ``execute -f PROGRAM`` answer ``Process N created.``: the process started with PID ``N``
   and image ``cmd.exe`` (``shell``) or ``PROGRAM`` is the attacker's.
4. **Seeds.** A process is an attacker process when a process start creates it with a command
   line that contains one of the commands (lower-cased, whitespace collapsed, quotes removed;
   commands of at least :data:`MIN_COMMAND_CHARS` characters) or with an image whose file name
   is one of the tools; or when any event's acting process matches an agent row (same PID,
   image file name starting with the agent's process name, host starting with the machine);
   or when a process start creates a Meterpreter process (same PID and image file name).
5. **Descendants.** Every process started, directly or transitively, by an attacker process
   is one too (process-start edges parent -> child).

The result is a set of process GUIDs. A recording without a match is unlabelled and left out
of the evaluation (the bench reports how many).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

MIN_COMMAND_CHARS = 6
CONTROL_VERBS = frozenset({
    "agents", "interact", "usemodule", "usestager", "uselistener", "listeners", "info",
    "execute", "back", "set", "unset", "main", "kill", "sleep", "run", "use", "sessions", "exit",
    "help", "searchmodule", "upload", "download", "y", "n", "options", "jobs", "creds",
    "rename", "show", "exploit", "background", "load", "getuid", "sysinfo",
})
WRAPPER_VERBS = frozenset({"shell", "scriptcmd", "powershell", "shellcmd", "cmd"})
_PROMPT = re.compile(
    r"^\s*(?:\([^)]*\)|PS [^>]*|[A-Za-z]:\\[^>]*|msf\d*(?: [^>]*)?|meterpreter)\s?>\s*(\S.*)$")
_QUOTED_COMMAND = re.compile(r'/(?:shell|powershell)command:"([^"]+)"', re.IGNORECASE)
_EXE = re.compile(r"([\w.-]+\.exe)\b", re.IGNORECASE)
_AGENT_ROW = re.compile(
    r"^\s*[A-Z0-9]{8}\s+(?:ps|py)\s+\S+\s+(\S+)\s+\*?\S+\s+(\S+)\s+(\d+)\s", re.MULTILINE)
_WORD = re.compile(r"^[a-z][a-z0-9_]*$")
_METERPRETER = re.compile(r"^\s*meterpreter\s?>\s*(shell|execute\s.*)$", re.IGNORECASE)
_EXECUTE_FILE = re.compile(r"\s-f\s+[\"']?([^\s\"']+)")
_CREATED = re.compile(r"^\s*Process (\d+) created\.")
_WMI_CREATE = re.compile(r"\bprocess\s+call\s+create\s+[\"']?([^\s\"']+)", re.IGNORECASE)
_PSEXEC = re.compile(r"^psexec(?:64)?(?:\.exe)?$")
PSEXEC_VALUE_OPTIONS = frozenset({"-u", "-p", "-w", "-n", "-r", "-a"})


def normalise(text: str) -> str:
    """Lower-case, quotes removed, whitespace collapsed."""
    return " ".join(text.lower().replace('"', " ").replace("'", " ").split())


def console_commands(adversary_view: str) -> list[str]:
    """The attacker's commands in an ``adversary_view`` (rule 1)."""
    commands = []
    for line in adversary_view.splitlines():
        match = _PROMPT.match(line)
        if not match:
            continue
        command = match.group(1).strip()
        quoted = _QUOTED_COMMAND.search(command)
        if quoted:
            commands.append(quoted.group(1).strip())
            continue
        words = command.split()
        verb = words[0].lower()
        if verb == "set" and len(words) >= 3 and words[1].lower() == "procname":
            commands.append(words[2] + ".exe")
        elif verb in WRAPPER_VERBS and len(words) > 1:
            commands.append(" ".join(words[1:]))
        elif verb not in CONTROL_VERBS:
            commands.append(command)
    return commands


def launcher_payload(command: str) -> str | None:
    """The program a PsExec or ``wmic process call create`` command runs (rule 2), or None."""
    wmi = _WMI_CREATE.search(command)
    if wmi:
        return wmi.group(1)
    words = command.split()
    if not words or not _PSEXEC.match(words[0].lower().rsplit("\\", 1)[-1]):
        return None
    rest = iter(words[1:])
    for word in rest:
        if word.startswith("\\\\"):
            continue
        if word.startswith("-"):
            if word.lower() in PSEXEC_VALUE_OPTIONS:
                next(rest, None)
            continue
        return word
    return None


def _program_tool(word: str) -> str | None:
    """``<word>.exe`` for a plain program word, the file name for an ``.exe`` path."""
    name = word.lower().strip("\"'").rsplit("\\", 1)[-1]
    if name.endswith(".exe"):
        return name
    return name + ".exe" if _WORD.match(name) else None


def command_tools(commands: Iterable[str]) -> set[str]:
    """Executable file names named by the commands (rule 2), lower-case."""
    tools: set[str] = set()
    for command in commands:
        tools.update(name.lower().rsplit("\\", 1)[-1] for name in _EXE.findall(command))
        first = command.split()[0].lower() if command.split() else ""
        first = first.rsplit("\\", 1)[-1]
        if _WORD.match(first):
            tools.add(first + ".exe")
        payload = launcher_payload(command)
        tool = _program_tool(payload) if payload else None
        if tool:
            tools.add(tool)
    return tools


def agent_processes(adversary_view: str) -> list[tuple[str, str, int]]:
    """``(machine, process name, pid)`` of each row of Empire's agent table (rule 3)."""
    return [(m.group(1).lower(), m.group(2).lower(), int(m.group(3)))
            for m in _AGENT_ROW.finditer(adversary_view)]


def meterpreter_processes(adversary_view: str) -> list[tuple[str, int]]:
    """``(image file name, pid)`` of each process Meterpreter reports it created (rule 3)."""
    found, expected = [], None
    for line in adversary_view.splitlines():
        command = _METERPRETER.match(line.rstrip())
        if command:
            program = _EXECUTE_FILE.search(command.group(1))
            expected = "cmd.exe" if command.group(1).lower() == "shell" else (
                program.group(1).lower().rsplit("\\", 1)[-1] if program else None)
            continue
        created = _CREATED.match(line)
        if created and expected:
            found.append((expected, int(created.group(1))))
            expected = None
    return found


def _basename(values: pd.Series) -> pd.Series:
    return values.fillna("").astype(str).str.lower().str.replace("/", "\\").str.rsplit(
        "\\", n=1).str[-1]


def attacker_guids(events: pd.DataFrame, adversary_view: str) -> set[str]:
    """GUIDs (lower-case) of the attacker processes in one recording's ``events``."""
    commands = console_commands(adversary_view)
    patterns = [normalise(c) for c in commands if len(normalise(c)) >= MIN_COMMAND_CHARS]
    tools = command_tools(commands)
    starts = events[events["action"] == "process_start"]
    child_guid = starts["object_guid"].fillna("").astype(str).str.lower()
    child_cmd = starts["object_command_line"].fillna("").astype(str).map(normalise)
    child_image = _basename(starts["object_name"])
    seeds = set(child_guid[child_image.isin(tools)])
    for pattern in patterns:
        seeds.update(child_guid[child_cmd.str.contains(pattern, regex=False)])
    host = events["host"].fillna("").astype(str).str.lower()
    image = _basename(events["image"])
    pid = events["process_id"]
    for machine, name, agent_pid in agent_processes(adversary_view):
        hit = (pid == agent_pid) & image.str.startswith(name) & host.str.startswith(machine)
        seeds.update(events.loc[hit.fillna(False).astype(bool), "process_guid"]
                     .dropna().astype(str).str.lower())
    created = meterpreter_processes(adversary_view)
    if created:
        child_pid = pd.to_numeric(starts["object_process_id"], errors="coerce")
        for name, created_pid in created:
            seeds.update(child_guid[(child_pid == created_pid) & (child_image == name)])
    seeds.discard("")
    children: dict[str, list[str]] = {}
    for parent, child in zip(starts["process_guid"].fillna("").astype(str).str.lower(),
                             child_guid, strict=True):
        children.setdefault(parent, []).append(child)
    found, stack = set(seeds), list(seeds)
    while stack:
        for child in children.get(stack.pop(), []):
            if child and child not in found:
                found.add(child)
                stack.append(child)
    return found
