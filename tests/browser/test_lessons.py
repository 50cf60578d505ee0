"""Every lesson in a real JupyterLab, in a real Chromium, as a learner uses it.

nbval runs each lesson, but it sees only a widget's first figure. Here each lesson is
opened, run with Run All Cells, and its widget is moved control by control; after each
change the figure the browser shows must be a new, real figure. Screenshots of every
state go to ``out/browser/`` (printed at the end of the run).

Needs Debian's ``chromium`` and the ``playwright`` package (``.ci/run`` installs both).
Without chromium these tests are skipped, unless ``CI`` is set: there they must run.
Deselect them with ``-m "not browser"`` for a quick loop.
"""

import io
import os
import shutil
from pathlib import Path

import pytest

from labdriver import (
    CHROMIUM,
    chromium,
    flip_checkbox,
    is_modified,
    jupyterlab,
    nudge_slider,
    open_notebook,
    pick_other_toggle,
    run_all,
    wait_for_new_figure,
    widget_cell,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted(ROOT.glob("notebooks/[0-9]*.ipynb"))
SCREENSHOTS = ROOT / "out" / "browser"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is missing: apt-get install chromium (as .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    folder = tmp_path_factory.mktemp("lab")
    with jupyterlab(LESSONS, folder) as url:
        yield url, folder / "root"
    print(f"\nscreenshots of every widget state: {SCREENSHOTS}")


@pytest.fixture(scope="module")
def page(lab):  # one browser for all lessons
    with chromium() as page:
        yield page


def check_figure(png, first, what):
    """A valid PNG, of the first figure's size class, and not blank."""
    from PIL import Image, ImageStat

    assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{what}: not a PNG"
    image = Image.open(io.BytesIO(png))
    image.load()
    reference = Image.open(io.BytesIO(first))
    assert abs(image.width - reference.width) <= 0.1 * reference.width, (
        f"{what}: {image.width} px wide, the first figure {reference.width} px")
    assert abs(image.height - reference.height) <= 0.1 * reference.height, (
        f"{what}: {image.height} px high, the first figure {reference.height} px")
    size, first_size = len(png), len(first)
    assert 0.4 < size / first_size < 2.5, (
        f"{what}: {size:,} bytes, the first figure {first_size:,} bytes")
    grey = image.convert("L")
    drawn = sum(grey.histogram()[:200]) / (grey.width * grey.height)
    assert drawn > 0.01 and ImageStat.Stat(grey).stddev[0] > 10, f"{what}: blank figure"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_lesson_widget_redraws_in_the_browser(page, lab, lesson):
    url, lab_root = lab
    open_notebook(page, url, lesson.name)
    assert not is_modified(page), f"{lesson.name} is marked modified as soon as it opens"
    page.wait_for_timeout(1000)   # time for anything that would rewrite the file on open
    assert (lab_root / lesson.name).read_bytes() == lesson.read_bytes(), (
        f"{lesson.name} was rewritten on disk by opening it")

    errors = run_all(page)
    assert not errors, f"{lesson.name}: cells failed:\n" + "\n---\n".join(errors)

    cell = widget_cell(page)
    first = wait_for_new_figure(page, cell, b"")[0]
    check_figure(first, first, f"{lesson.stem}, first figure")
    shot = SCREENSHOTS / lesson.stem
    cell.screenshot(path=f"{shot}-0-first.png")
    assert_controls_laid_out(cell, lesson.stem)

    # Every control in turn, each from the state the previous change left.
    changes = [(f"slider{i}", lambda i=i: nudge_slider(page, cell, i))
               for i in range(cell.locator(".widget-slider").count())]
    changes += [(f"toggle{i}", lambda i=i: pick_other_toggle(cell, i))
                for i in range(cell.locator(".widget-toggle-buttons").count())]
    changes += [(f"checkbox{i}", lambda i=i: flip_checkbox(cell, i))
                for i in range(cell.locator(".widget-checkbox").count())]
    assert len(changes) >= 2, f"{lesson.stem}: a widget with fewer than two controls"

    previous = first
    for step, (control, change) in enumerate(changes, start=1):
        value = change()
        previous = wait_for_new_figure(page, cell, previous)[0]
        check_figure(previous, first, f"{lesson.stem}, after {control} -> {value}")
        cell.screenshot(path=f"{shot}-{step}-{control}.png")
    assert not page.evaluate(ERRORS_IN_WIDGET, cell.element_handle())


ERRORS_IN_WIDGET = """(cell) => [...cell.querySelectorAll('pre')]
    .map(e => e.innerText).filter(t => /Traceback|Error:/.test(t))"""

LAYOUT = """(cell) => {
    const box = (e) => e.getBoundingClientRect();
    const area = box(cell.querySelector('.jp-Cell-outputArea'));
    const problems = [];
    for (const e of cell.querySelectorAll('.widget-label, .widget-toggle-button, .widget-readout'))
        if (e.scrollWidth > e.clientWidth + 1) problems.push(`cut: "${e.innerText}"`);
    for (const e of cell.querySelectorAll('.widget-slider .slider-container'))
        if (box(e).width < 120) problems.push(`a slider track ${box(e).width} px wide`);
    const parts = [...cell.querySelectorAll('.widget-label, .widget-readout, .widget-slider .slider-container')];
    for (const a of parts) for (const b of parts) {
        if (a === b || a.contains(b) || b.contains(a)) continue;
        const p = box(a), q = box(b);
        if (p.width && q.width && p.left < q.right - 1 && q.left < p.right - 1 &&
            p.top < q.bottom - 1 && q.top < p.bottom - 1)
            problems.push(`"${a.innerText}" overlaps "${b.innerText}"`);
    }
    for (const e of cell.querySelectorAll('.widget-slider, .widget-toggle-buttons, .widget-checkbox'))
        if (box(e).right > area.right + 1) problems.push(`a control runs past the notebook's edge`);
    return [...new Set(problems)];
}"""


def assert_controls_laid_out(cell, name):
    """Labels whole, slider tracks usable, nothing overlapping, nothing past the edge."""
    problems = cell.evaluate(LAYOUT)
    assert not problems, f"{name}: controls badly laid out: " + "; ".join(problems)
