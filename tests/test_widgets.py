"""Figures without pyplot, and the explore widget: correct whatever thread redraws it.

The browser test (tests/browser) moves the real widgets in JupyterLab; these tests pin
the logic underneath: redraws never overlap and end on the newest values, a refused
model shows its message, and figures appear inline when a cell ends.
"""

import threading
import time

import ipywidgets
import nbformat
import pytest
from nbclient import NotebookClient

import simlab as sl
from simlab.plot import png_bytes
from simlab.widgets import Explorer, checkbox, explore, slider, toggle

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    return sl.scenarios.shop("async", rate=40, duration=5, outage=("payments", 1, 1)).run()


PLOTS = {
    "latency_percentiles": {}, "latency_distribution": {}, "latency_over_time": {},
    "queues": {}, "topology": {}, "waterfall": {}, "lag_distribution": {},
    "lag_over_time": {}, "partitions": {"group": "payments"},
    "anomalies_over_time": {}, "deliveries": {}, "overview": {},
}


@pytest.mark.parametrize("name", PLOTS)
def test_plot_functions_make_figures_without_pyplot(result, name, tmp_path):
    drawn = getattr(sl.plot, name)(result, **PLOTS[name])
    ax = drawn.flat[0] if hasattr(drawn, "flat") else drawn
    fig = ax.figure
    assert isinstance(fig, sl.plot.canvas.Figure)
    assert fig.canvas.manager is None, f"{name} made a figure that pyplot manages"
    fig.savefig(tmp_path / "figure.png")              # as a script would
    assert (tmp_path / "figure.png").read_bytes()[:8] == PNG


def test_plot_on_given_axes_makes_no_figure(result):
    fig = sl.plot.figure()
    ax = fig.subplots()
    assert sl.plot.queues(result, ax=ax) is ax


def text_of(values):
    return " ".join(f"{name}={value}" for name, value in sorted(values.items()))


class Recorder:
    """An update function that notes how many draws overlap, and draws its values."""

    def __init__(self, pause=0.0):
        self.pause, self.running, self.most, self.calls = pause, 0, 0, 0
        self.lock = threading.Lock()

    def __call__(self, **values):
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        time.sleep(self.pause)
        fig = sl.plot.figure(figsize=(3, 1))
        fig.text(0.1, 0.5, text_of(values))
        with self.lock:
            self.running -= 1
        return fig, text_of(values)


def test_controls_are_read_through_their_labelled_boxes():
    widget = explore(Recorder(), rate=slider("rate", 1, 10, 1, 3),
                     style=toggle("style", ["sync", "async"]), on=checkbox("on"))
    assert widget.values() == {"rate": 3, "style": "sync", "on": False}
    assert "rate=3 style=sync" in widget.text.value and widget.image.value[:8] == PNG


def test_a_burst_of_changes_is_drawn_once_more_with_the_last_values():
    update = Recorder(pause=0.02)
    control = ipywidgets.IntSlider(value=0, min=0, max=100)
    widget = explore(update, rate=control)
    for value in range(1, 51):
        control.value = value
    assert widget.wait(10)
    assert update.most == 1, "two redraws overlapped"
    assert update.calls < 10, f"{update.calls} draws for one burst: not coalesced"
    assert "rate=50" in widget.text.value


def test_changes_from_many_threads_never_overlap_and_end_on_the_newest_values():
    update = Recorder(pause=0.005)
    controls = {f"c{i}": ipywidgets.IntSlider(value=0, min=0, max=1000) for i in range(4)}
    widget = explore(update, **controls)

    def move(control, offset):
        for value in range(offset, offset + 30):
            control.value = value

    threads = [threading.Thread(target=move, args=(control, 100 * i))
               for i, control in enumerate(controls.values())]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert widget.wait(10)
    assert update.most == 1, "two redraws overlapped"
    final = {name: control.value for name, control in controls.items()}
    assert final == {"c0": 29, "c1": 129, "c2": 229, "c3": 329}
    assert text_of(final) in widget.text.value
    fig, _ = Recorder()(**final)
    assert widget.image.value == png_bytes(fig, crop=False, compress_level=1)


def test_a_refused_model_shows_its_message_and_the_next_valid_change_draws():
    def update(rate):
        world = sl.World(seed=1)
        world.service("shop", workers=1, work=sl.Exp(mean=0.01))
        world.load(sl.Poisson(rate=rate), target=("shop", "buy"), duration=1)
        return sl.plot.figure(), f"rate {rate}"

    control = ipywidgets.IntSlider(value=5, min=-5, max=10)
    widget = explore(update, rate=control)
    assert widget.image.layout.display != "none"
    control.value = -1
    widget.wait()
    assert "ModelError" in widget.text.value and "rate" in widget.text.value
    assert "Traceback" not in widget.text.value
    assert widget.image.layout.display == "none"
    control.value = 7
    widget.wait()
    assert "rate 7" in widget.text.value and widget.image.layout.display != "none"


def test_a_bug_in_update_shows_its_traceback():
    def update(rate):
        return 1 / (rate - 3), sl.plot.figure()

    control = ipywidgets.IntSlider(value=1, min=0, max=5)
    widget = explore(update, rate=control)
    control.value = 3
    widget.wait()
    assert "ZeroDivisionError" in widget.text.value and "Traceback" in widget.text.value


def test_update_may_return_axes_or_nothing(result):
    widget = explore(lambda n: sl.plot.queues(result), n=ipywidgets.IntSlider())
    assert widget.image.value[:8] == PNG
    widget = explore(lambda n: None if sl.plot.queues(result) else None,
                     n=ipywidgets.IntSlider())
    assert widget.image.value[:8] == PNG
    widget = explore(lambda n: (sl.plot.queues(result), sl.plot.topology(result)) and None,
                     n=ipywidgets.IntSlider())
    assert "made 2 figures" in widget.text.value


def test_an_explorer_is_a_widget_box():
    assert isinstance(explore(Recorder(), n=ipywidgets.IntSlider()), Explorer)


def run_cells(*sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    return [cell.outputs for cell in notebook.cells]


def images(outputs):
    return [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]


def test_figures_show_when_their_cell_ends_and_widgets_show_only_themselves():
    outputs = run_cells(
        "import simlab as sl\nfrom simlab.widgets import explore, slider\n"
        "result = sl.scenarios.shop(rate=20, duration=2).run()",
        "ax = sl.plot.queues(result)\nax.set_title('changed after the call')",
        "fig = sl.plot.figure()\nleft, right = fig.subplots(1, 2)",
        "explore(lambda n: sl.plot.queues(result), n=slider('n', 1, 3, 1, 2))",
        "print('no figure here')")
    assert len(images(outputs[1])) == 1
    assert len(images(outputs[2])) == 1
    assert images(outputs[3]) == [], "the widget's figure leaked into the cell's output"
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
               for o in outputs[3])
    assert images(outputs[4]) == []
