"""The analyst notebooks run top to bottom on a demo database (executed, not just parsed)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.mark.parametrize("name", ["alert_triage", "model_evaluation", "data_exploration"])
def test_notebook_runs_on_the_demo_database(name, demo_run, monkeypatch):
    db, _report, _lines = demo_run
    monkeypatch.setenv("LOGGUARD_DB", str(db))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # every notebook shows results, not just runs: at least one table per notebook
    assert any("text/html" in o.get("data", {}) for o in outputs)
