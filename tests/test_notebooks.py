"""The committed notebooks are clean: JupyterLab opens them without rewriting anything,
and they hold no output but the numbers nbval pins.

Why no figures and widgets in the committed lessons: a stored widget is a dead picture
("Loading widget..." on GitHub, a frozen one in JupyterLab), stored figures make every
change to a lesson a binary diff, and the learner runs the lesson anyway. The cells
tagged ``nbval-check-output`` keep their printed output: it is what nbval compares.
nbval's markers are cell tags, never ``# NBVAL_...`` comments, so the learner reads none.
"""

from pathlib import Path

import nbformat
import pytest
from ipykernel.ipkernel import IPythonKernel

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("exercises/*.ipynb"),
                    *ROOT.glob("exercises/solutions/*.ipynb")])
TEXT_ONLY = {"text/plain"}
PINNED = "nbval-check-output"


def tags(cell):
    return cell.metadata.get("tags", [])


@pytest.fixture(params=NOTEBOOKS, ids=lambda path: str(path.relative_to(ROOT)))
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_there_are_notebooks():
    assert len(list(ROOT.glob("notebooks/*.ipynb"))) >= 4


def test_written_as_jupyter_writes_it(notebook):
    path, nb = notebook
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5), "nbformat 4.5: cells carry ids"
    assert all(cell.get("id") for cell in nb.cells)
    assert path.read_text() == nbformat.writes(nb) + "\n", (
        f"{path.name} is not in Jupyter's own layout: JupyterLab would rewrite it on save. "
        "Write it with nbformat.write().")


def test_metadata_is_what_the_kernel_reports(notebook):
    # JupyterLab copies the kernel's language_info into the notebook when the kernel
    # starts; any difference marks the notebook modified the moment it opens.
    path, nb = notebook
    reported = dict(IPythonKernel.language_info)
    stored = dict(nb.metadata.get("language_info", {}))
    assert stored.pop("version", "").split(".")[:2] == reported.pop("version").split(".")[:2]
    assert stored == reported, f"{path.name}: language_info differs from ipykernel's"
    assert nb.metadata.kernelspec == {"display_name": "Python 3 (ipykernel)",
                                      "language": "python", "name": "python3"}
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state"


def test_only_pinned_cells_keep_output(notebook):
    path, nb = notebook
    for number, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert "execution" not in cell.metadata, f"{path.name} cell {number}: run timestamps"
        if PINNED not in tags(cell):
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name} cell {number} keeps output that nbval does not check")
            continue
        for output in cell.outputs:
            kinds = set(output.get("data", {})) or {"stream"}
            assert kinds <= TEXT_ONLY | {"stream"}, (
                f"{path.name} cell {number} keeps {kinds - TEXT_ONLY}: pin numbers as text")


def test_nbval_markers_are_tags_not_comments(notebook):
    path, nb = notebook
    for number, cell in enumerate(nb.cells):
        assert "NBVAL_" not in cell.source, f"{path.name} cell {number}: an nbval comment; tag the cell"
        if cell.cell_type == "code" and "explore(" in cell.source:
            assert "nbval-ignore-output" in tags(cell), (
                f"{path.name} cell {number}: a widget cell must be tagged nbval-ignore-output")
