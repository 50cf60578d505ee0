"""Grade exercise notebooks: run each top to bottom and report every task's check.

    python -m simlab.grade exercises/04-failures-and-resilience.ipynb [more notebooks]

Each notebook runs in a fresh kernel, in its own folder, as *Run All* would run it, but
a cell that fails does not stop the run: every check gets its say. The report has one
line per check cell (tag ``check``): passed, not yet (with the check's message), or
did not run (the error of the cell, or of an earlier cell it needed). The exit status is
0 when every task of every notebook passed, 1 otherwise. ``--json`` prints the same as
JSON (one object per notebook), for a gradebook.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from .exercises import MIME, MODE


def grade(path, timeout=600):
    """Run the notebook at ``path``; return ``{"notebook", "tasks", "errors"}``.

    ``tasks`` holds one ``{"cell", "task", "passed", "message"}`` per check cell, in
    order; ``errors`` holds ``(cell, "Name: message")`` for every cell that raised.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    env = {name: value for name, value in os.environ.items() if name != MODE}
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
    tasks, errors = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append((index, f"{output['ename']}: {output['evalue']}"))
        if "check" not in cell.metadata.get("tags", []):
            continue
        verdicts = [output["data"][MIME] for output in cell.get("outputs", [])
                    if MIME in output.get("data", {})]
        if verdicts:
            tasks.extend({"cell": index, **verdict} for verdict in verdicts)
        else:
            failed = [message for where, message in errors if where == index]
            tasks.append({"cell": index, "task": f"check in cell {index}", "passed": False,
                          "message": "did not run: " + (failed[0] if failed else
                                                        "it showed no verdict")})
    return {"notebook": str(path), "tasks": tasks, "errors": errors}


def report(graded):
    """The report of one graded notebook, as lines of text."""
    tasks = graded["tasks"]
    passed = sum(task["passed"] for task in tasks)
    lines = [f"{graded['notebook']}: {passed} of {len(tasks)} tasks passed"]
    for task in tasks:
        mark = "✓" if task["passed"] else "✗"
        lines.append(f"  {mark} {task['task']}" + ("" if task["passed"] else f" — {task['message']}"))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m simlab.grade", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", help="exercise notebooks to grade")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (600)")
    args = parser.parse_args(argv)
    graded = [grade(path, args.timeout) for path in args.notebooks]
    if args.json:
        print(json.dumps(graded, indent=1, ensure_ascii=False))
    else:
        for one in graded:
            print("\n".join(report(one)))
    return 0 if all(task["passed"] for one in graded for task in one["tasks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
