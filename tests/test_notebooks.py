"""The evaluation notebooks run top to bottom in fast mode, and are committed without outputs.

Run with ``python -m pytest -m notebooks``. Needs the notebook extras (nbclient, nbformat,
ipykernel, matplotlib, pandas); skipped when they are not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["evaluation.ipynb", "tuning.ipynb", "across_corpora.ipynb"]

pytestmark = pytest.mark.notebooks


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    # Plain JSON, so this check runs even without the notebook extras.
    book = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    code = [cell for cell in book["cells"] if cell["cell_type"] == "code"]
    assert code, name
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)
    # The parameter cell comes first among the code cells, where papermill-style tools look.
    assert "parameters" in code[0]["metadata"].get("tags", [])
    assert book["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_fast_mode(name, monkeypatch):
    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # The kernel inherits the environment: small data, tiny grid. (Plots use the kernel's
    # inline backend, which needs no display.)
    monkeypatch.setenv("RELATEDNESS_NOTEBOOK_FAST", "1")
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [
        output
        for cell in book.cells if cell.cell_type == "code"
        for output in cell.outputs if output.get("output_type") == "error"
    ]
    assert not errors
    text = "\n".join(
        output.get("text", "")
        for cell in book.cells if cell.cell_type == "code"
        for output in cell.outputs if output.get("output_type") == "stream"
    )
    assert "fast mode: True" in text  # the environment reached the kernel
