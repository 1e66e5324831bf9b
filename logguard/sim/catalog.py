"""What normal Windows hosts run: the program catalogue and the three host roles.

A :class:`Program` describes one kind of process: its image, command lines, the modules it
loads at start, how long it lives, how often it acts while alive and what it does (files it
writes, domains it resolves and connects to, registry values it sets, processes it starts).
A :class:`Role` names the programs that are already running on a host of that role when the
simulation starts (``services.exe``, ``explorer.exe``, ``sqlservr.exe`` ...) and the daily
rhythm of its users. Everything a host does descends from its resident programs, so the
parent -> child structure of each role is fixed here: office hosts start ``winword.exe`` from
``explorer.exe`` or ``outlook.exe``, never from ``services.exe``.

A domain starting with ``@`` names internal peers (``@servers``: the servers): an
address of the enterprise, connected to without a DNS query. Templates use ``{user}`` (the
account's short name), ``{doc}`` (one of the host's document names), ``{rand}`` (a fresh hex
token), ``{proj}`` (one of the host's projects), ``{svc}`` (a service name) and ``{sid}``
(the account's SID).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SYS32 = "C:\\Windows\\System32"
OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16"
CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
POWERSHELL = f"{SYS32}\\WindowsPowerShell\\v1.0\\powershell.exe"
APPDATA = "C:\\Users\\{user}\\AppData"
DOCS = "C:\\Users\\{user}\\Documents"
REPOS = "C:\\Users\\{user}\\source\\repos\\{proj}"
HKCU = "HKU\\{sid}\\Software"
SQLSERVR = "C:\\Program Files\\Microsoft SQL Server\\MSSQL15.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe"
ASPNET_TEMP = "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\Temporary ASP.NET Files\\root"

SYSTEM = "system"  # NT AUTHORITY\SYSTEM
NETWORK_SERVICE = "network"  # NT AUTHORITY\NETWORK SERVICE
INTERACTIVE = "interactive"  # the host's own user
SQL_SERVICE = "sql"  # ACME\svc_sql
IIS_POOL = "iis"  # IIS APPPOOL\DefaultAppPool

FLAT = "flat"  # the same rate day and night
USER = "user"  # follows the role's working hours
NIGHT = "night"  # scheduled maintenance, 01:00-04:00


@dataclass(frozen=True)
class Program:
    """One kind of process and its habits (rates are per minute of its life)."""

    image: str
    command_lines: tuple[str, ...]
    account: str
    modules: tuple[str, ...] = ()
    lifetime_s: float | None = 60.0  # mean of an exponential lifetime; None: runs throughout
    rate_per_min: float = 1.0
    rhythm: str = FLAT
    files: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    port: int = 443
    registry: tuple[str, ...] = ()
    accesses: tuple[str, ...] = ()
    children: tuple[tuple[str, float], ...] = ()  # (program key, relative weight)
    weights: dict[str, float] = field(default_factory=dict)  # action kind -> relative weight


COMMON_DLLS = (f"{SYS32}\\ntdll.dll", f"{SYS32}\\kernel32.dll", f"{SYS32}\\KernelBase.dll",
               f"{SYS32}\\advapi32.dll", f"{SYS32}\\user32.dll", f"{SYS32}\\combase.dll")
NET_DLLS = (f"{SYS32}\\ws2_32.dll", f"{SYS32}\\winhttp.dll", f"{SYS32}\\dnsapi.dll")
OFFICE_DLLS = (f"{OFFICE}\\mso20win32client.dll", f"{OFFICE}\\OLEACC.dll",
               "C:\\Program Files\\Common Files\\microsoft shared\\ClickToRun"
               "\\AppVIsvSubsystems64.dll")
CLR_DLLS = ("C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\clr.dll",
            "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\clrjit.dll")

PROGRAMS: dict[str, Program] = {
    # --- residents of every host -------------------------------------------------------------
    "services": Program(
        f"{SYS32}\\services.exe", (f"{SYS32}\\services.exe",), SYSTEM, lifetime_s=None,
        rate_per_min=0.08, registry=("HKLM\\System\\CurrentControlSet\\Services\\{svc}\\Start",),
        children=(("svchost_service", 1.0),), weights={"child": 3, "registry": 1}),
    "svchost_service": Program(
        f"{SYS32}\\svchost.exe", (f"{SYS32}\\svchost.exe -k netsvcs -p -s {{svc}}",
                                  f"{SYS32}\\svchost.exe -k LocalServiceNetworkRestricted -p"),
        NETWORK_SERVICE, COMMON_DLLS + NET_DLLS, lifetime_s=900, rate_per_min=0.5,
        files=("C:\\Windows\\ServiceState\\{svc}\\Data\\{rand}.dat",
               "C:\\Windows\\Logs\\{svc}\\{rand}.etl"),
        domains=("settings-win.data.microsoft.com", "ctldl.windowsupdate.com",
                 "v10.events.data.microsoft.com"),
        weights={"file": 3, "net": 2}),
    "schedule": Program(
        f"{SYS32}\\svchost.exe", (f"{SYS32}\\svchost.exe -k netsvcs -p -s Schedule",), SYSTEM,
        lifetime_s=None, rate_per_min=0.05, children=(("taskhostw", 1.0),),
        weights={"child": 1}),
    "schedule_server": Program(
        f"{SYS32}\\svchost.exe", (f"{SYS32}\\svchost.exe -k netsvcs -p -s Schedule",), SYSTEM,
        lifetime_s=None, rate_per_min=0.6, rhythm=NIGHT,
        children=(("maintenance", 3.0), ("taskhostw", 1.0)), weights={"child": 1}),
    "taskhostw": Program(
        f"{SYS32}\\taskhostw.exe", (f"{SYS32}\\taskhostw.exe", "taskhostw.exe -RegisterDevice"),
        SYSTEM, COMMON_DLLS, lifetime_s=40, rate_per_min=3,
        files=("C:\\Windows\\System32\\Tasks\\Microsoft\\Windows\\{svc}",),
        registry=("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache"
                  "\\Tasks\\{rand}",),
        weights={"file": 1, "registry": 1}),
    "defender": Program(
        "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.2010.7-0\\MsMpEng.exe",
        ("\"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.2010.7-0\\MsMpEng.exe\"",),
        SYSTEM, lifetime_s=None, rate_per_min=0.4,
        files=("C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\Service"
               "\\{rand}.log",),
        domains=("wdcp.microsoft.com", "definitionupdates.microsoft.com"),
        accesses=(f"{SYS32}\\svchost.exe", f"{SYS32}\\RuntimeBroker.exe"),
        weights={"file": 3, "net": 1, "access": 2}),
    "wmiprvse": Program(
        f"{SYS32}\\wbem\\WmiPrvSE.exe", (f"{SYS32}\\wbem\\wmiprvse.exe -secured -Embedding",),
        NETWORK_SERVICE, lifetime_s=None, rate_per_min=0.1,
        files=("C:\\Windows\\System32\\wbem\\Repository\\{rand}.tmp",), weights={"file": 1}),
    "lsass": Program(f"{SYS32}\\lsass.exe", (f"{SYS32}\\lsass.exe",), SYSTEM, lifetime_s=None,
                     rate_per_min=0.0),
    # --- workstations --------------------------------------------------------------------------
    "explorer_office": Program(
        "C:\\Windows\\explorer.exe", ("C:\\Windows\\Explorer.EXE",), INTERACTIVE,
        lifetime_s=None, rate_per_min=0.25, rhythm=USER,
        files=(APPDATA + "\\Roaming\\Microsoft\\Windows\\Recent\\{doc}.lnk",),
        registry=(HKCU + "\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RecentDocs\\.docx",),
        domains=("@servers",), port=445,  # documents on the file share
        children=(("outlook", 0.5), ("winword", 3.0), ("excel", 2.5), ("chrome", 3.0),
                  ("teams", 1.0), ("acrord32", 1.0), ("notepad", 0.7)),
        weights={"child": 4, "file": 1, "registry": 1, "net": 1}),
    "explorer_dev": Program(
        "C:\\Windows\\explorer.exe", ("C:\\Windows\\Explorer.EXE",), INTERACTIVE,
        lifetime_s=None, rate_per_min=0.2, rhythm=USER,
        files=(APPDATA + "\\Roaming\\Microsoft\\Windows\\Recent\\{proj}.lnk",),
        children=(("code", 1.0), ("terminal", 0.7), ("chrome", 3.0), ("teams", 0.5),
                  ("outlook", 0.3), ("notepad", 0.5)),
        weights={"child": 4, "file": 1}),
    "outlook": Program(
        f"{OFFICE}\\OUTLOOK.EXE", (f"\"{OFFICE}\\OUTLOOK.EXE\"",), INTERACTIVE,
        COMMON_DLLS + OFFICE_DLLS + NET_DLLS, lifetime_s=21600, rate_per_min=1.0, rhythm=USER,
        files=(APPDATA + "\\Local\\Microsoft\\Outlook\\{user}@acme.com.ost",
               APPDATA + "\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\{rand}.tmp"),
        domains=("outlook.office365.com", "outlook.office.com", "login.microsoftonline.com"),
        children=(("winword", 1.0), ("excel", 1.0), ("chrome", 0.5)),
        weights={"net": 4, "file": 3, "child": 0.4}),
    "winword": Program(
        f"{OFFICE}\\WINWORD.EXE", (f"\"{OFFICE}\\WINWORD.EXE\" /n \"{DOCS}\\{{doc}}.docx\"",),
        INTERACTIVE, COMMON_DLLS + OFFICE_DLLS, lifetime_s=1500, rate_per_min=1.0, rhythm=USER,
        files=(DOCS + "\\{doc}.docx", APPDATA + "\\Roaming\\Microsoft\\Word\\~WRL{rand}.tmp"),
        domains=("officeclient.microsoft.com", "nexusrules.officeapps.live.com"),
        registry=(HKCU + "\\Microsoft\\Office\\16.0\\Word\\Reading Locations\\Document 0"
                         "\\File Path",),
        children=(("splwow64", 1.0),), weights={"file": 4, "net": 1, "registry": 1, "child": 0.1}),
    "excel": Program(
        f"{OFFICE}\\EXCEL.EXE", (f"\"{OFFICE}\\EXCEL.EXE\" \"{DOCS}\\{{doc}}.xlsx\"",),
        INTERACTIVE, COMMON_DLLS + OFFICE_DLLS, lifetime_s=1800, rate_per_min=1.0, rhythm=USER,
        files=(DOCS + "\\{doc}.xlsx", APPDATA + "\\Local\\Temp\\{rand}.tmp"),
        domains=("officeclient.microsoft.com",),
        weights={"file": 4, "net": 1}),
    "splwow64": Program("C:\\Windows\\splwow64.exe", ("C:\\Windows\\splwow64.exe 8192",),
                        INTERACTIVE, COMMON_DLLS, lifetime_s=30, rate_per_min=2,
                        files=("C:\\Windows\\System32\\spool\\PRINTERS\\{rand}.SPL",),
                        weights={"file": 1}),
    "chrome": Program(
        CHROME, (f"\"{CHROME}\"", f"\"{CHROME}\" --restore-last-session"), INTERACTIVE,
        COMMON_DLLS + NET_DLLS, lifetime_s=3600, rate_per_min=2.0, rhythm=USER,
        files=(APPDATA + "\\Local\\Google\\Chrome\\User Data\\Default\\Cache\\Cache_Data\\f_{rand}",
               "C:\\Users\\{user}\\Downloads\\{doc}.pdf"),
        domains=("www.google.com", "mail.google.com", "www.linkedin.com", "www.bbc.co.uk",
                 "stackoverflow.com", "github.com", "acme.sharepoint.com", "www.youtube.com",
                 "docs.python.org", "en.wikipedia.org", "news.ycombinator.com", "www.amazon.com"),
        children=(("chrome_renderer", 1.0),), weights={"net": 5, "file": 3, "child": 0.5}),
    "chrome_renderer": Program(
        CHROME, (f"\"{CHROME}\" --type=renderer --lang=en-US --renderer-client-id={{rand}}",),
        INTERACTIVE, COMMON_DLLS, lifetime_s=600, rate_per_min=0.5,
        files=(APPDATA + "\\Local\\Google\\Chrome\\User Data\\Default\\Code Cache\\js\\{rand}",),
        weights={"file": 1}),
    "teams": Program(
        APPDATA + "\\Local\\Microsoft\\Teams\\current\\Teams.exe",
        ("\"C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe\"",),
        INTERACTIVE, COMMON_DLLS + NET_DLLS, lifetime_s=14400, rate_per_min=1.0, rhythm=USER,
        files=(APPDATA + "\\Roaming\\Microsoft\\Teams\\Cache\\f_{rand}",),
        domains=("teams.microsoft.com", "presence.teams.microsoft.com",
                 "statics.teams.cdn.office.net"),
        weights={"net": 3, "file": 1}),
    "acrord32": Program(
        "C:\\Program Files (x86)\\Adobe\\Acrobat Reader DC\\Reader\\AcroRd32.exe",
        ("\"C:\\Program Files (x86)\\Adobe\\Acrobat Reader DC\\Reader\\AcroRd32.exe\" "
         "\"C:\\Users\\{user}\\Downloads\\{doc}.pdf\"",),
        INTERACTIVE, COMMON_DLLS, lifetime_s=600, rate_per_min=0.5,
        files=(APPDATA + "\\LocalLow\\Adobe\\Acrobat\\DC\\{rand}.tmp",),
        domains=("acroipm2.adobe.com",), weights={"file": 2, "net": 1}),
    "notepad": Program(f"{SYS32}\\notepad.exe", (f"\"{SYS32}\\notepad.exe\" {DOCS}\\{{doc}}.txt",),
                       INTERACTIVE, COMMON_DLLS, lifetime_s=300, rate_per_min=0.5,
                       files=(DOCS + "\\{doc}.txt",), weights={"file": 1}),
    # --- developer machines ---------------------------------------------------------------------
    "code": Program(
        APPDATA + "\\Local\\Programs\\Microsoft VS Code\\Code.exe",
        ("\"C:\\Users\\{user}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe\" " + REPOS,),
        INTERACTIVE, COMMON_DLLS + NET_DLLS, lifetime_s=10800, rate_per_min=0.6, rhythm=USER,
        files=(REPOS + "\\src\\{doc}.py",
               APPDATA + "\\Roaming\\Code\\User\\workspaceStorage\\{rand}"),
        domains=("marketplace.visualstudio.com", "update.code.visualstudio.com", "github.com"),
        children=(("git", 4.0), ("python", 2.0), ("powershell_dev", 1.0)),
        weights={"file": 3, "net": 1, "child": 2}),
    "terminal": Program(
        "C:\\Program Files\\WindowsApps\\Microsoft.WindowsTerminal_1.12.10983.0_x64__8wekyb3d8bbwe"
        "\\WindowsTerminal.exe", ("wt.exe",), INTERACTIVE, COMMON_DLLS, lifetime_s=5400,
        rate_per_min=0.1, rhythm=USER, children=(("powershell_dev", 2.0), ("cmd_dev", 1.0)),
        weights={"child": 1}),
    "powershell_dev": Program(
        POWERSHELL, (f"\"{POWERSHELL}\" -NoLogo", f"\"{POWERSHELL}\""), INTERACTIVE,
        COMMON_DLLS + CLR_DLLS, lifetime_s=1200, rate_per_min=0.3, rhythm=USER,
        files=(APPDATA + "\\Roaming\\Microsoft\\Windows\\PowerShell\\PSReadLine"
                         "\\ConsoleHost_history.txt",),
        children=(("git", 3.0), ("python", 2.0), ("msbuild", 0.3)),
        weights={"child": 3, "file": 1}),
    "cmd_dev": Program(f"{SYS32}\\cmd.exe", (f"\"{SYS32}\\cmd.exe\"",), INTERACTIVE, COMMON_DLLS,
                       lifetime_s=900, rate_per_min=0.3, rhythm=USER,
                       children=(("git", 2.0), ("python", 1.0), ("msbuild", 0.3)),
                       weights={"child": 1}),
    "git": Program(
        "C:\\Program Files\\Git\\cmd\\git.exe",
        ("git status", "git pull --rebase", "git commit -m wip", "git push origin main",
         "git fetch --all"), INTERACTIVE, COMMON_DLLS, lifetime_s=4, rate_per_min=20,
        files=(REPOS + "\\.git\\objects\\{rand}", REPOS + "\\.git\\index.lock"),
        domains=("github.com",), weights={"file": 3, "net": 1}),
    "python": Program(
        APPDATA + "\\Local\\Programs\\Python\\Python311\\python.exe",
        ("python -m pytest", "python manage.py runserver",
         "python -m pip install -r requirements.txt", "python src\\{doc}.py"),
        INTERACTIVE, COMMON_DLLS, lifetime_s=90, rate_per_min=6,
        files=(REPOS + "\\src\\__pycache__\\{doc}.cpython-311.pyc",
               REPOS + "\\.pytest_cache\\{rand}"),
        domains=("pypi.org", "files.pythonhosted.org"), weights={"file": 4, "net": 1}),
    "msbuild": Program(
        "C:\\Program Files\\Microsoft Visual Studio\\2022\\Community\\MSBuild\\Current\\Bin"
        "\\MSBuild.exe",
        ("msbuild " + REPOS + "\\{proj}.sln /p:Configuration=Debug",), INTERACTIVE,
        COMMON_DLLS + CLR_DLLS, lifetime_s=60, rate_per_min=6,
        files=(REPOS + "\\obj\\Debug\\{rand}.cache",), children=(("cl", 3.0), ("link", 1.0)),
        weights={"child": 2, "file": 2}),
    "cl": Program(
        "C:\\Program Files\\Microsoft Visual Studio\\2022\\Community\\VC\\Tools\\MSVC\\14.34.31933"
        "\\bin\\Hostx64\\x64\\cl.exe", ("cl.exe /c /Zi /EHsc /Fo" + REPOS + "\\obj\\ {doc}.cpp",),
        INTERACTIVE, COMMON_DLLS, lifetime_s=8, rate_per_min=15,
        files=(REPOS + "\\obj\\Debug\\{doc}.obj",), weights={"file": 1}),
    "link": Program(
        "C:\\Program Files\\Microsoft Visual Studio\\2022\\Community\\VC\\Tools\\MSVC\\14.34.31933"
        "\\bin\\Hostx64\\x64\\link.exe", ("link.exe /OUT:" + REPOS + "\\bin\\{proj}.exe",),
        INTERACTIVE, COMMON_DLLS, lifetime_s=6, rate_per_min=10,
        files=(REPOS + "\\bin\\Debug\\{proj}.exe",), weights={"file": 1}),
    # --- servers -----------------------------------------------------------------------------
    "sqlservr": Program(
        SQLSERVR, (f"\"{SQLSERVR}\" -sMSSQLSERVER",), SQL_SERVICE, lifetime_s=None,
        rate_per_min=3.0,
        files=("D:\\SQLData\\{proj}_log.ldf", "D:\\SQLData\\tempdb_{rand}.mdf"),
        domains=("@servers",), port=445, weights={"file": 2, "net": 1}),
    "w3wp": Program(
        f"{SYS32}\\inetsrv\\w3wp.exe",
        (f"{SYS32}\\inetsrv\\w3wp.exe -ap \"DefaultAppPool\" -v \"v4.0\" -l \"webengine4.dll\"",),
        IIS_POOL, lifetime_s=None, rate_per_min=4.0,
        files=("C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex{rand}.log",
               ASPNET_TEMP + "\\{rand}.dll"),
        domains=("@servers",), port=1433, children=(("csc", 1.0),),
        weights={"file": 2, "net": 3, "child": 0.01}),
    "csc": Program(
        "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\csc.exe",
        ("\"C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\csc.exe\" /noconfig /fullpaths "
         "@\"" + ASPNET_TEMP + "\\{rand}.cmdline\"",),
        IIS_POOL, COMMON_DLLS + CLR_DLLS, lifetime_s=5, rate_per_min=12,
        files=(ASPNET_TEMP + "\\{rand}.dll",),
        weights={"file": 1}),
    "maintenance": Program(
        POWERSHELL, (f"\"{POWERSHELL}\" -NoProfile -ExecutionPolicy Bypass "
                     "-File C:\\Scripts\\backup.ps1",
                     f"\"{POWERSHELL}\" -NoProfile -File C:\\Scripts\\rotate-logs.ps1"),
        SYSTEM, COMMON_DLLS + CLR_DLLS, lifetime_s=600, rate_per_min=2.0,
        files=("E:\\Backups\\{proj}_{rand}.bak", "C:\\Scripts\\logs\\{rand}.log"),
        domains=("@servers",), port=445, weights={"file": 3, "net": 1}),
}


@dataclass(frozen=True)
class Role:
    """A host role: its resident programs and the hourly activity of its users (0..1)."""

    name: str
    residents: tuple[str, ...]
    hourly: tuple[float, ...]  # 24 values, the share of the peak rate in each UTC hour
    weekend: float  # multiplier on Saturdays and Sundays


_OFFICE_DAY = (0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.1, 0.7, 1.0, 1.0, 0.9,
               0.5, 0.8, 1.0, 0.9, 0.8, 0.6, 0.15, 0.03, 0.02, 0.02, 0.01, 0.01)
_DEV_DAY = (0.02, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.03, 0.2, 0.7, 1.0, 1.0,
            0.6, 0.9, 1.0, 1.0, 0.9, 0.8, 0.5, 0.3, 0.25, 0.2, 0.1, 0.05)
_SERVER_DAY = tuple([0.3] * 8 + [1.0] * 10 + [0.5] * 6)
_BASE = ("services", "schedule", "defender", "wmiprvse", "lsass")

ROLES: dict[str, Role] = {
    "office": Role("office", (*_BASE, "explorer_office"), _OFFICE_DAY, weekend=0.03),
    "developer": Role("developer", (*_BASE, "explorer_dev"), _DEV_DAY, weekend=0.15),
    "server": Role("server", ("services", "schedule_server", "defender", "wmiprvse", "lsass"),
                   _SERVER_DAY, weekend=0.6),
}
SERVER_APPS = ("sqlservr", "w3wp")  # each server runs one of them, alternately
NIGHT_HOURS = (1, 2, 3)

ACCOUNTS = {SYSTEM: "NT AUTHORITY\\SYSTEM", NETWORK_SERVICE: "NT AUTHORITY\\NETWORK SERVICE",
            SQL_SERVICE: "ACME\\svc_sql", IIS_POOL: "IIS APPPOOL\\DefaultAppPool"}
SERVICES = ("BITS", "wuauserv", "Dnscache", "LanmanServer", "WinDefend", "EventLog", "Schedule",
            "CryptSvc", "DPS", "TrkWks")
