"""Benchmark: how live the lessons' widgets feel — from a control's change to the new figure.

For every lesson, every control of its widget is changed in turn, ROUNDS times over
(one step each time, as a learner nudging it), and two times are taken for each change:

* in the kernel: the redraw itself — simulate, draw, render the PNG
  (``Explorer.draw_seconds``), with the lesson run in a plain kernel by nbclient;
* in the browser: from the key press or click in JupyterLab in Chromium until the new
  figure is on screen (what the learner waits for: the kernel's part, the messages
  there and back, the browser's decoding); beside it the kernel's part of that same
  redraw, which the widget notes in the page. Browser, server and kernel then share the
  machine's two cores, so the kernel's part is slower there than alone.

Goals: every lesson's median in the browser under 1 s, in the kernel under 0.4 s.

Run:  python benchmarks/widgets.py [--rounds 3] [--lessons 01 03]
Needs Debian's chromium and the playwright package, as the browser tests do.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from labdriver import (  # noqa: E402
    chromium,
    flip_checkbox,
    jupyterlab,
    nudge_slider,
    open_notebook,
    pick_other_toggle,
    run_all,
    wait_for_redraw,
    widget_cell,
)

IN_THE_KERNEL = """
import gc, json
from simlab.widgets import Explorer
explorer = next(o for o in gc.get_objects() if isinstance(o, Explorer))
seconds = []
for _ in range({rounds}):
    for control in explorer.controls.values():
        if hasattr(control, "options"):
            options = list(control.options)
            control.value = options[(options.index(control.value) + 1) % len(options)]
        elif isinstance(control.value, bool):
            control.value = not control.value
        else:
            up = control.value + control.step
            control.value = up if up <= control.max else control.value - control.step
        explorer.wait()
        seconds.append(explorer.draw_seconds)
print(json.dumps(seconds))
"""


def kernel_seconds(lesson, rounds):
    notebook = nbformat.read(lesson, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(IN_THE_KERNEL.format(rounds=rounds)))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(lesson.parent)}}).execute()
    return json.loads(notebook.cells[-1].outputs[0]["text"])


def browser_seconds(page, url, lesson, rounds):
    open_notebook(page, url, lesson.name)
    errors = run_all(page)
    if errors:
        raise RuntimeError(f"{lesson.name}: cells failed:\n" + "\n".join(errors))
    cell = widget_cell(page)
    count = wait_for_redraw(page, cell, 0)[0]
    changes = [lambda i=i: nudge_slider(page, cell, i)
               for i in range(cell.locator(".widget-slider").count())]
    changes += [lambda i=i: pick_other_toggle(cell, i)
                for i in range(cell.locator(".widget-toggle-buttons").count())]
    changes += [lambda i=i: flip_checkbox(cell, i)
                for i in range(cell.locator(".widget-checkbox").count())]
    seconds, in_kernel = [], []
    for _ in range(rounds):
        for change in changes:
            started = time.perf_counter()
            change()
            count, kernel = wait_for_redraw(page, cell, count)
            seconds.append(time.perf_counter() - started)
            in_kernel.append(kernel)
    return in_kernel, seconds


def spread(seconds):
    return f"{statistics.median(seconds):4.2f} s (max {max(seconds):.2f}, n={len(seconds)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lessons", nargs="*", default=[], help="e.g. 01 03 (default: all)")
    args = parser.parse_args()
    lessons = [path for path in sorted(ROOT.glob("notebooks/[0-9]*.ipynb"))
               if not args.lessons or path.name[:2] in args.lessons]
    rows = {lesson.stem: [kernel_seconds(lesson, args.rounds)] for lesson in lessons}
    with tempfile.TemporaryDirectory() as folder, jupyterlab(lessons, folder) as url, \
            chromium() as page:
        for lesson in lessons:
            rows[lesson.stem].extend(browser_seconds(page, url, lesson, args.rounds))
    print(f"{'':28s}  {'redraw, kernel alone':30s}  {'in the browser: redraw':30s}  "
          "change -> new figure")
    for name, columns in rows.items():
        print(f"{name:28s}  " + "  ".join(f"{spread(column):30s}" for column in columns))
    print("goals: median under 0.4 s for the redraw, under 1 s from change to new figure")


if __name__ == "__main__":
    main()
