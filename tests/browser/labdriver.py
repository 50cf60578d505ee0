"""A real JupyterLab in a real Chromium, for the tests and the widget benchmark.

JupyterLab runs from this interpreter's environment on a free loopback port, over a
temporary copy of the lessons, with its settings, workspaces and runtime files in that
temporary folder too (nothing of the user's own JupyterLab is read or written). Chromium
is Debian's (``/usr/bin/chromium``), driven by the ``playwright`` package; its own
browser download (``playwright install``) is never used.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
START_TRIES = 120          # half-second tries for the server to answer /api/status
WIDTH, HEIGHT = 1050, 900  # with the side bar folded, a notebook 1,000 pixels wide


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab(notebooks, folder):
    """Start JupyterLab over copies of ``notebooks`` in ``folder``; yield its base URL.

    The server is stopped by the process id saved at start, whatever happens.
    """
    folder = Path(folder)
    for name in ("root", "settings", "workspaces", "runtime", "config"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    _write_settings(folder / "settings")
    for notebook in notebooks:
        shutil.copy(notebook, folder / "root" / Path(notebook).name)
    port = free_port()
    env = dict(os.environ,
               JUPYTERLAB_SETTINGS_DIR=str(folder / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(folder / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
               JUPYTER_CONFIG_DIR=str(folder / "config"),
               MPLBACKEND="")  # the kernel chooses its inline backend, as for a learner
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
               "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
               "--IdentityProvider.token=", "--ServerApp.password=",
               "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               f"--ServerApp.root_dir={folder / 'root'}"]
    log = open(folder / "jupyterlab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server, folder / "jupyterlab.log")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


# Every cell in the page (no virtual scrolling, so each output can be found), and no
# news pop-up over the notebook.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


def _write_settings(folder):
    for name, values in SETTINGS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_until_up(url, server, log):
    for _ in range(START_TRIES):
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited at start:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer in {START_TRIES / 2:.0f} s:\n"
                       f"{log.read_text()[-3000:]}")


@contextmanager
def chromium():
    """A headless Debian Chromium page of WIDTH × HEIGHT pixels."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            yield page
        finally:
            browser.close()


def image_bytes(page, image):
    """The bytes of an ``<img>`` as the browser has them (data: or blob: URL)."""
    encoded = page.evaluate("""async (img) => {
        const blob = await (await fetch(img.src)).blob();
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let text = "";
        for (let i = 0; i < bytes.length; i += 0x8000)
            text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
        return btoa(text);
    }""", image.element_handle())
    return base64.b64decode(encoded)


# ---- Driving a notebook -------------------------------------------------------------

KERNEL_IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
ALL_RUN = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
    return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""
ERRORS = """() => [...document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(e => e.innerText).filter(t => /Traceback|Error/.test(t))"""


def open_notebook(page, url, name, timeout=90):
    """Open ``name`` with a fresh workspace, the side bar folded; wait for an idle kernel."""
    page.goto(f"{url}/lab/tree/{name}?reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=timeout * 1000)
    page.wait_for_function(
        "() => /Idle/.test(document.querySelector('.jp-StatusBar-Widget')?.parentElement"
        "?.innerText || '')", timeout=timeout * 1000)
    page.wait_for_selector(KERNEL_IDLE, timeout=timeout * 1000)
    if page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").count():
        page.keyboard.press("Control+b")
        page.wait_for_function("() => !document.querySelector("
                               "'.jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current')")


def is_modified(page):
    """Whether the open notebook's tab shows unsaved changes."""
    return "jp-mod-dirty" in (page.locator(".lm-TabBar-tab.jp-mod-current")
                              .first.get_attribute("class") or "")


def run_all(page, timeout=300):
    """Run > Run All Cells, and wait until every code cell has run; return error texts."""
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    page.wait_for_function(ALL_RUN, timeout=timeout * 1000, polling=250)
    page.wait_for_selector(KERNEL_IDLE, timeout=timeout * 1000)
    return page.evaluate(ERRORS)


def widget_cell(page):
    """The first code cell whose output holds a slider: the lesson's explore widget."""
    cell = page.locator(".jp-CodeCell", has=page.locator(".widget-slider")).first
    cell.scroll_into_view_if_needed()
    return cell


def figure_bytes(page, cell):
    """The PNG the widget shows now (the last image in the cell's output)."""
    images = cell.locator(".jp-Cell-outputArea img")
    if images.count() == 0:
        return b""
    return image_bytes(page, images.last)


def wait_for_new_figure(page, cell, previous, timeout=60):
    """Poll until the widget's figure differs from ``previous``; (bytes, seconds waited)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        now = figure_bytes(page, cell)
        if now and now != previous:
            return now, time.perf_counter() - started
        page.wait_for_timeout(20)
    raise AssertionError(f"no new figure {timeout} s after the change")


def draws(cell):
    """(draws so far, seconds the last took in the kernel): ``Explorer`` notes both in
    its text, as an HTML comment."""
    html = cell.locator(".widget-html-content").first.inner_html()
    found = re.search(r"<!-- draw (\d+) in ([\d.]+) s -->", html)
    return (int(found.group(1)), float(found.group(2))) if found else (0, None)


def wait_for_redraw(page, cell, count, timeout=60):
    """Poll until the widget has drawn more than ``count`` times; return ``draws(cell)``."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if (now := draws(cell))[0] > count:
            return now
        page.wait_for_timeout(10)
    raise AssertionError(f"no redraw {timeout} s after the change")


def nudge_slider(page, cell, index=0):
    """Move a slider one step (right, or left at its maximum) with the keyboard."""
    slider = cell.locator(".widget-slider").nth(index)
    handle = slider.locator(".noUi-handle")
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    return slider.locator(".widget-readout").inner_text()


def pick_other_toggle(cell, index=0):
    """Click a button of a toggle group that is not the selected one; return its text."""
    group = cell.locator(".widget-toggle-buttons").nth(index)
    button = group.locator(".widget-toggle-button:not(.mod-active)").first
    text = button.inner_text()
    button.click()
    return text


def flip_checkbox(cell, index=0):
    box = cell.locator(".widget-checkbox input[type=checkbox]").nth(index)
    box.click()
    return box.is_checked()
