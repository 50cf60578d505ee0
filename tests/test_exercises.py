"""The exercises are real: each solution runs, each unsolved check fails, and on its own.

For every exercise notebook in ``exercises/`` (and its solved copy in
``exercises/solutions/``, same file name):

* the solved copy runs top to bottom without an error;
* the learner copy stops with ``NotImplementedError`` or ``AssertionError``;
* the check cells (tag ``check``) are the same source in both copies, and there is one;
* every check fails on its own: with the earlier tasks solved, the learner's version of a
  task makes that task's check cell fail with ``AssertionError``, and the solved version
  of the same task makes it pass. (So a stub leaves a placeholder its check rejects, such
  as ``answer = None``; a stub that only raises ``NotImplementedError`` proves nothing.)

The copies must line up cell by cell (a learner cell and its solved cell at the same
position), which is how the last test swaps one task at a time. Kernels run this very
interpreter (the ``python3`` kernelspec with ``python`` in its argv runs ``sys.executable``).
"""

import copy
import pathlib
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

EXERCISES = pathlib.Path(__file__).resolve().parents[1] / "exercises"
NOTEBOOKS = sorted(EXERCISES.glob("*.ipynb"))
LEARNER_FAILURES = {"NotImplementedError", "AssertionError"}


def read(path):
    return nbformat.read(path, as_version=4)


def solved(path):
    return path.parent / "solutions" / path.name


def client(nb, path):
    return NotebookClient(nb, kernel_name="python3", timeout=120,
                          resources={"metadata": {"path": str(path.parent)}})


def is_check(cell):
    return "check" in cell.metadata.get("tags", [])


def test_there_are_exercises():
    assert NOTEBOOKS, f"no exercise notebooks in {EXERCISES}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_copies_line_up_and_share_their_check_cells(path):
    assert solved(path).exists(), f"{path.name} has no solved copy at {solved(path)}"
    learner, solution = read(path), read(solved(path))
    assert len(learner.cells) == len(solution.cells), (
        f"{path.name}: the learner copy has {len(learner.cells)} cells, the solution "
        f"{len(solution.cells)}; they must line up cell by cell")
    for index, (mine, theirs) in enumerate(zip(learner.cells, solution.cells)):
        assert mine.cell_type == theirs.cell_type, f"{path.name}: cell {index} differs in type"
        assert is_check(mine) == is_check(theirs), f"{path.name}: cell {index} is tagged check in one copy only"
        if is_check(mine):
            assert mine.source == theirs.source, f"{path.name}: check cell {index} differs between the copies"
    assert any(is_check(cell) for cell in learner.cells), f"{path.name}: no cell is tagged 'check'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solution_runs(path):
    nb = read(solved(path))
    client(nb, solved(path)).execute()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_learner_copy_fails(path):
    nb = read(path)
    with pytest.raises(CellExecutionError) as failure:
        client(nb, path).execute()
    assert failure.value.ename in LEARNER_FAILURES, (
        f"{path.name} failed with {failure.value.ename}, not with one of {sorted(LEARNER_FAILURES)}")


def run(runner, cell, index):
    """Execute one cell (a copy: the notebook on disk stays as it is); return the error name."""
    try:
        runner.execute_cell(copy.deepcopy(cell), index)
    except CellExecutionError as error:
        return error.ename
    return None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_check_fails_on_its_own(path):
    learner, solution = read(path), read(solved(path))
    checks = [i for i, cell in enumerate(learner.cells) if is_check(cell)]
    runner = client(copy.deepcopy(solution), solved(path))
    with runner.setup_kernel():
        probe = nbformat.v4.new_code_cell("import sys; print(sys.prefix)")
        runner.execute_cell(probe, 0)
        assert probe.outputs[0]["text"].strip() == sys.prefix, (
            "the python3 kernel runs another Python than this test; check `jupyter kernelspec list`")
        start = 0
        for check in checks:
            task = range(start, check)
            for index in task:  # the learner's version of this task; a stub may raise
                error = run(runner, learner.cells[index], index)
                assert error in (None, "NotImplementedError"), (
                    f"{path.name}: learner cell {index} fails with {error}; a stub must be valid Python")
            error = run(runner, learner.cells[check], check)
            assert error == "AssertionError", (
                f"{path.name}: check cell {check} does not fail with AssertionError on the learner's "
                f"version of its task (got {error}); the check is not real")
            for index in task:  # now the solved version: the check must pass
                assert run(runner, solution.cells[index], index) is None, (
                    f"{path.name}: solution cell {index} fails")
            assert run(runner, solution.cells[check], check) is None, (
                f"{path.name}: check cell {check} fails on the solved task")
            start = check + 1
