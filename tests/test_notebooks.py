"""The notebooks of examples/notebooks/ run from top to bottom, and their own checks pass.

Each notebook runs with nbclient in a fresh kernel of this very interpreter (a kernelspec
written for the test, so not whichever `python3` kernel Jupyter would find first), in the
notebook's own folder, as a user opening it there would. A cell that raises fails the test;
each notebook's last code cell asserts its claims (θ-space and overlap-space learning agree
to a stated tolerance; the PyTorch import reproduces PyTorch's outputs to ≤ 1e-12) and prints
a line that the test looks for. The notebooks are stored without outputs, with fixed seeds,
and import overlapflow only as `import overlapflow as of`.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "examples" / "notebooks"
TIMEOUT_S = 600  # per cell

#: Each notebook and a line its final checks print once they have passed.
EXPECTED = {
    "fig1_in_ten_lines.ipynb": "largest move of an invisible overlap",
    "own_pytorch_network.ipynb": "all checks passed",
}


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _code(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def test_the_notebooks_are_the_expected_ones():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_is_stored_clean_and_valid(name):
    nb = _read(NOTEBOOKS / name)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["language"] == "python"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{name}: a code cell holds outputs; store the notebook cleared"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_uses_only_the_public_api(name):
    imported = set()
    for source in _code(_read(NOTEBOOKS / name)):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {(a.name, a.asname) for a in node.names if a.name.startswith("overlapflow")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("overlapflow"):
                imported.add((node.module, "from"))
    assert imported == {("overlapflow", "of")}, f"{name} imports {imported}"


def _kernel_manager(folder: Path) -> KernelManager:
    """A kernel manager whose only kernel is this interpreter (the virtual environment's)."""
    spec = folder / "kernels" / "overlapflow-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "overlapflow tests", "language": "python"}), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    return KernelManager(kernel_name="overlapflow-test", kernel_spec_manager=specs)


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream"
                   and o.name == "stdout")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_and_its_checks_pass(name, tmp_path):
    nb = _read(NOTEBOOKS / name)
    n_cells = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    client = NotebookClient(nb, km=_kernel_manager(tmp_path), timeout=TIMEOUT_S,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    try:
        client.execute(env=dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython")))
    except CellExecutionError as exc:
        pytest.fail(f"{name}: a cell failed:\n{str(exc)[-4000:]}")
    print(f"{name}: executed in {time.perf_counter() - start:.1f} s")

    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
              if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"
    assert all(cell.execution_count is not None for cell in nb.cells if cell.cell_type == "code")
    assert _stdout(nb.cells[-1]).strip() == sys.executable  # the kernel was this interpreter
    last_check = [cell for cell in nb.cells[:n_cells] if cell.cell_type == "code"][-1]
    assert EXPECTED[name] in _stdout(last_check), f"{name}: its final checks printed nothing"
    figures = sum("image/png" in o.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
                  for o in cell.outputs)
    assert figures >= 2, f"{name}: drew {figures} figures"
