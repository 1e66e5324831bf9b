"""The enterprise simulator: seeded Windows process traces with planted, labelled attack chains.

Feeds the demo (``logguard demo`` streams :func:`iter_process_events`,
:func:`iter_auth_events` and :func:`iter_alert_events` to Kafka) and the tests and benches of
the process-path detector (:func:`simulate_processes` gives a frame with the ground truth in
``attack_step`` / ``attack_id``). Authentications and IDS alerts are derived from the same
process trace, so a planted chain shows in all three sources with the same labels. Process
rows follow ``schemas/process.schema.json`` and the conventions of the Sysmon reader (see
:mod:`logguard.sim.trace`).
"""

from logguard.sim.alerts import RULES, iter_alert_events
from logguard.sim.attacks import ATTACK_STEPS, TOOLS, AttackChain
from logguard.sim.auth import AUTH_COLUMNS, iter_auth_events
from logguard.sim.enterprise import build_enterprise, host_names, role_counts
from logguard.sim.processes import iter_process_events, iter_process_rows, simulate_processes
from logguard.sim.trace import COLUMNS, LABEL_COLUMNS

__all__ = [
    "ATTACK_STEPS",
    "AUTH_COLUMNS",
    "COLUMNS",
    "LABEL_COLUMNS",
    "RULES",
    "TOOLS",
    "AttackChain",
    "build_enterprise",
    "host_names",
    "iter_alert_events",
    "iter_auth_events",
    "iter_process_events",
    "iter_process_rows",
    "role_counts",
    "simulate_processes",
]
