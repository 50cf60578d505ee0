"""The exercises are real: every check passes the solved task and rejects wrong answers.

For every exercise notebook in ``exercises/`` and its solved copy in
``exercises/solutions/`` (same file name):

* the copies line up cell by cell, and their check cells (tag ``check``) are the same;
* the learner copy never links to the solved copy;
* the learner copy, run as *Run All* runs it, runs to the end: every check cell shows
  its verdict, "not yet", and no cell raises (``simlab.grade`` reads the verdicts);
* task by task, in one kernel: the learner's version of the task and every wrong answer
  of ``tests/exercise_cheats.py`` make the task's check cell fail (``AssertionError``, the
  checks' strict mode, which ``conftest.py`` sets), and never with a message that gives
  the answer away; then the solved version makes it pass, and the check cell leaves no
  new name in the notebook's globals.

Kernels run this very interpreter (the ``python3`` kernelspec runs ``sys.executable``).
"""

import copy
import pathlib
import re
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from exercise_cheats import CHEATS, NEVER_SAY
from simlab.grade import grade

EXERCISES = pathlib.Path(__file__).resolve().parents[1] / "exercises"
NOTEBOOKS = sorted(EXERCISES.glob("[0-9]*.ipynb"))
# Names IPython itself adds at every cell: input and output history.
HISTORY = re.compile(r"^(_|__|___|_i|_ii|_iii|_i\d+|_\d+|_oh|_ih|_dh|In|Out)$")


def read(path):
    return nbformat.read(path, as_version=4)


def solved(path):
    return path.parent / "solutions" / path.name


def is_check(cell):
    return "check" in cell.metadata.get("tags", [])


def test_there_are_exercises():
    assert len(NOTEBOOKS) >= 4, f"exercise notebooks missing in {EXERCISES}"


def test_every_task_has_wrong_answers_to_reject():
    for path in NOTEBOOKS:
        tasks = sum(is_check(cell) for cell in read(path).cells)
        cheats = CHEATS.get(path.name, {})
        assert sorted(cheats) == list(range(1, tasks + 1)), (
            f"{path.name}: tests/exercise_cheats.py has wrong answers for tasks {sorted(cheats)}, "
            f"the notebook has {tasks} tasks")
        for number, wrong in cheats.items():
            assert len(wrong) >= 3, f"{path.name}, task {number}: fewer than 3 wrong answers"


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
def test_learner_copy_does_not_link_to_the_solutions(path):
    for index, cell in enumerate(read(path).cells):
        assert "solutions" not in cell.source, f"{path.name}, cell {index} mentions the solutions"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_learner_copy_runs_to_the_end_and_every_check_says_not_yet(path):
    graded = grade(path)                 # as Run All: a failing check does not raise
    assert not graded["errors"], f"{path.name}: cells raised {graded['errors']}"
    checks = sum(is_check(cell) for cell in read(path).cells)
    assert len(graded["tasks"]) == checks
    for task in graded["tasks"]:
        assert task["passed"] is False, f"{path.name}: {task['task']} passes unsolved"
        assert task["message"], f"{path.name}: {task['task']} fails without saying why"


class Kernel:
    """One kernel for a whole notebook; runs cells and reports how a cell ended."""

    def __init__(self, client):
        self.client = client

    def run(self, source, index=0):
        """Execute ``source``; return (error name or None, error text)."""
        cell = nbformat.v4.new_code_cell(source)
        try:
            self.client.execute_cell(cell, index)
        except CellExecutionError as error:
            return error.ename, error.evalue
        return None, ""



def global_names(kernel):
    cell = nbformat.v4.new_code_cell("print(repr(sorted(globals())))")
    kernel.client.execute_cell(cell, 0)
    return {name for name in eval(cell.outputs[0]["text"]) if not HISTORY.match(name)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_check_rejects_wrong_answers_and_passes_the_solution(path):
    learner, solution = read(path), read(solved(path))
    checks = [i for i, cell in enumerate(learner.cells) if is_check(cell)]
    client = NotebookClient(copy.deepcopy(solution), kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(solved(path).parent)}})
    with client.setup_kernel():
        kernel = Kernel(client)
        probe = nbformat.v4.new_code_cell("import sys, os; print(sys.prefix, os.environ.get('SIMLAB_CHECKS'))")
        client.execute_cell(probe, 0)
        assert probe.outputs[0]["text"].split() == [sys.prefix, "raise"], (
            "the python3 kernel runs another Python than this test, or not in the checks' "
            "strict mode; check `jupyter kernelspec list` and conftest.py")
        start = 0
        for number, check in enumerate(checks, start=1):
            task = [i for i in range(start, check) if learner.cells[i].cell_type == "code"]
            check_source = learner.cells[check].source
            where = f"{path.name}, task {number}"
            # The learner's version of the task (a stub): valid Python, rejected by the check.
            for index in task:
                error, text = kernel.run(learner.cells[index].source, index)
                assert error is None, f"{where}: learner cell {index} raises {error}: {text}"
            error, text = kernel.run(check_source, check)
            assert error == "AssertionError", f"{where}: the check does not reject the stub ({error})"
            # Wrong answers: each one replaces the task's answer; the check must reject it.
            wrong = [("the check's own code, pasted as the answer", check_source),
                     *CHEATS[path.name][number].items()]
            for name, cheat in wrong:
                kernel.run(cheat, start)
                error, text = kernel.run(check_source, check)
                assert error == "AssertionError", (
                    f"{where}: the check accepts a wrong answer ({name}); got {error}: {text}")
                for secret in NEVER_SAY.get(path.name, {}).get(number, ()):
                    assert secret not in text, f"{where}: rejecting '{name}', the check says {secret!r}"
            # The solved version passes, and its check leaves no new name behind.
            for index in task:
                error, text = kernel.run(solution.cells[index].source, index)
                assert error is None, f"{where}: solution cell {index} raises {error}: {text}"
            before = global_names(kernel)
            error, text = kernel.run(check_source, check)
            assert error is None, f"{where}: the check rejects the solution: {text}"
            left = global_names(kernel) - before
            assert not left, f"{where}: the check cell leaves names in the notebook: {sorted(left)}"
            start = check + 1
