"""History abstraction of entity instances, so statistics generalise across hosts and days.

GID (Dong et al., arXiv 1608.02639) and NoDoze (Hassan et al., NDSS 2019) count historical
edges between *abstracted* entities: instance-specific parts (process ids, GUIDs, user names,
SIDs, version numbers, timestamps) are removed, the rest kept. The rules here:

* ``process`` / ``module``: the lower-cased image path with digit runs in its folders replaced
  by ``#`` (``platform\\4.18.2008.9-0\\msmpeng.exe`` -> ``platform\\#.#.#.#-#\\msmpeng.exe``)
  and the user folder replaced by ``*``;
* ``file``: drive, the first :data:`FILE_FOLDERS` folders (user folder as ``*``) and the extension
  (APE's "first folders" abstraction);
* ``socket``: remote address class (loopback, private, link-local, multicast, public; v4 or v6)
  and the port (``ephemeral`` from 49152 up);
* ``registry``: hive (``HKLM``, ``HKU``, ``HKCR`` ...) and the first :data:`REGISTRY_LEVELS` key
  levels, with SIDs and GUIDs replaced;
* ``domain``: the last two labels; ``pipe`` and anything else: digits and GUIDs replaced.

Each label is prefixed with its kind (``process:``, ``file:`` ...).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

FILE_FOLDERS = 2
REGISTRY_LEVELS = 3
EPHEMERAL_PORT = 49152

_DIGITS = re.compile(r"\d+")
_GUID = re.compile(r"\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?")
_SID = re.compile(r"s-1-[0-9-]+")
_HIVES = {
    "\\registry\\machine": "hklm",
    "\\registry\\user": "hku",
    "hkey_local_machine": "hklm",
    "hkey_users": "hku",
    "hkey_current_user": "hkcu",
    "hkey_classes_root": "hkcr",
}


@lru_cache(maxsize=262_144)
def abstract_label(kind: str, name: str | None) -> str:
    """The history label of the entity ``name`` of kind ``kind`` (see the module docstring)."""
    if name is None or name == "":
        return f"{kind}:?"
    text = name.lower()
    if kind in ("process", "module"):
        return f"{kind}:{_abstract_image(text)}"
    if kind == "file":
        return f"file:{_abstract_file(text)}"
    if kind == "socket":
        return f"socket:{_abstract_socket(text)}"
    if kind == "registry":
        return f"registry:{_abstract_registry(text)}"
    if kind == "domain":
        return "domain:" + ".".join(text.rstrip(".").split(".")[-2:])
    return f"{kind}:{_DIGITS.sub('#', _GUID.sub('<guid>', text))}"


def _split_path(text: str) -> list[str]:
    parts = [p for p in text.replace("/", "\\").split("\\") if p]
    if "users" in parts:
        for i, part in enumerate(parts[:-1]):
            if part == "users" and i + 1 < len(parts) - 1:
                parts[i + 1] = "*"
    return parts


def _abstract_image(text: str) -> str:
    parts = _split_path(text)
    if not parts:
        return "?"
    folders = [_DIGITS.sub("#", _GUID.sub("<guid>", p)) for p in parts[:-1]]
    return "\\".join([*folders, parts[-1]])


def _abstract_file(text: str) -> str:
    # GUIDs and digit runs never span a separator or a dot, so they are replaced in the kept
    # folders (joined) and in the extension only: most file names are unique, and each
    # regular-expression call costs about 0.4 µs
    parts = _split_path(text)
    if not parts:
        return "?"
    name = parts[-1]
    extension = _GUID.sub("<guid>", name.rsplit(".", 1)[1]) if "." in name else ""
    extension = _DIGITS.sub("#", extension)[:8]
    head = "\\".join(parts[: min(1 + FILE_FOLDERS, len(parts) - 1)])
    return _DIGITS.sub("#", _GUID.sub("<guid>", head)) + f"\\*.{extension}"


def _abstract_socket(text: str) -> str:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        klass = "unknown"
    else:
        if address.is_loopback:
            klass = "loopback"
        elif address.is_link_local:
            klass = "link-local"
        elif address.is_multicast:
            klass = "multicast"
        elif address.is_unspecified:
            klass = "unspecified"
        elif address.is_private:
            klass = "private"
        else:
            klass = "public"
        klass += f"-v{address.version}"
    port_label = "ephemeral" if port.isdigit() and int(port) >= EPHEMERAL_PORT else port or "?"
    return f"{klass}:{port_label}"


def _abstract_registry(text: str) -> str:
    for prefix, hive in _HIVES.items():
        if text.startswith(prefix):
            text = hive + text[len(prefix):]
            break
    text = _SID.sub("<sid>", _GUID.sub("<guid>", text))
    parts = [p for p in text.split("\\") if p]
    return "\\".join(_DIGITS.sub("#", p) for p in parts[: 1 + REGISTRY_LEVELS])
