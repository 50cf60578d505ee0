"""Run notebooks and store the outputs nbval pins, and only those.

    python tests/pin_outputs.py notebooks/01-sync-vs-async.ipynb [...]

Each notebook is run top to bottom in a fresh kernel (in its own folder). The cells
tagged ``nbval-check-output`` keep their text output and execution count; every other
cell is stored without output, as the committed lessons are (tests/test_notebooks.py).
A pinned output that changed is printed, old and new, so that a moved number is seen.
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

PINNED = "nbval-check-output"


def text_outputs(outputs):
    kept = []
    for output in outputs:
        if output.output_type == "stream" and output.name == "stdout":
            kept.append(output)
        elif output.output_type == "execute_result":
            output.data = {"text/plain": output.data["text/plain"]}
            output.metadata = {}
            kept.append(output)
    return kept


def _text(outputs):
    return "".join(o.get("text") or o.get("data", {}).get("text/plain", "") for o in outputs)


def pin(path):
    path = Path(path)
    stored = nbformat.read(path, as_version=4)
    fresh = nbformat.read(path, as_version=4)
    NotebookClient(fresh, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    count, moved = 0, 0
    for old, new in zip(stored.cells, fresh.cells):
        if old.cell_type != "code":
            continue
        old.metadata.pop("execution", None)
        if PINNED in old.metadata.get("tags", []):
            count += 1
            outputs = text_outputs(new.outputs)
            if old.outputs and _text(old.outputs) != _text(outputs):
                moved += 1
                print(f"--- {path.name}, pinned cell {old.id} moved:\nwas:\n"
                      f"{_text(old.outputs)}\nnow:\n{_text(outputs)}")
            old.outputs, old.execution_count = outputs, count
        else:
            old.outputs, old.execution_count = [], None
    nbformat.write(stored, path)
    print(f"{path}: {count} pinned cells, {moved} moved")


if __name__ == "__main__":
    for notebook in sys.argv[1:]:
        pin(notebook)
