"""Figures that speak for themselves: legends, shared scales, labels that fit, lines that
stay visible, and titles that say what is plotted."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import FancyArrowPatch
from matplotlib.path import Path

import simlab as sl
from simlab.scenarios import cascade, checkout_saga, delivery, dual_write, shop
from simlab.scenarios.release import one_release


@pytest.fixture(scope="module")
def shops():
    return {"sync": shop("sync", rate=50, duration=20, seed=1).run(),
            "async": shop("async", rate=50, duration=20, seed=1).run()}


def drawn(ax):
    FigureCanvasAgg(ax.figure).draw()
    return ax.figure.canvas.get_renderer()


def legend_texts(ax):
    legend = ax.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


def test_waterfall_has_a_legend_and_no_stray_hatched_label():
    result = cascade(seed=1).run()
    status = result.requests[(result.requests.load == "status") & (result.requests.outcome == "ok")]
    ax = sl.plot.waterfall(result, status.loc[status.latency.idxmax(), "trace_id"])
    texts = legend_texts(ax)
    assert any("server" in text for text in texts) and any("client" in text for text in texts)
    assert "waiting for a worker" in texts, "this trace waited for a worker: the legend must say so"
    assert "hatched" not in ax.get_xlabel()


def test_waterfall_marks_each_publish_and_links_it_to_its_consumers(shops):
    result = shops["async"]
    trace_id = result.slowest_trace()
    spans = result.spans[result.spans.trace_id == trace_id]
    producers = spans[spans.kind == "producer"]
    linked = spans[(spans.kind == "consumer") & spans.parent_id.isin(producers.span_id)]
    assert len(producers) >= 3 and len(linked) >= len(producers)
    ax = sl.plot.waterfall(result, trace_id)
    diamonds = [line for line in ax.get_lines() if line.get_marker() == "D"]
    links = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(diamonds) == len(producers)
    assert len(links) == len(linked)
    assert "publish, and who consumed it" in legend_texts(ax)
    sync = sl.plot.waterfall(shops["sync"], trace_id)
    assert not [line for line in sync.get_lines() if line.get_marker() == "D"]


def test_anomalies_share_one_scale_and_show_it():
    runs = {"at-least-once": delivery("at-least-once", crashes=12).run(),
            "dual-write": dual_write(crashes=12).run(), "saga": checkout_saga().run()}
    panels = sl.plot.anomalies(runs)
    limits = {panel.get_xlim() for panel in panels}
    assert len(limits) == 1, f"panels on different scales: {limits}"
    for panel in panels:
        assert panel.get_xticks().size > 1 and panel.get_xlabel()
        assert panel.spines["bottom"].get_visible()


def test_topology_labels_fit_their_boxes_and_no_arrow_ends_on_a_label(shops):
    for result in shops.values():
        ax = sl.plot.topology(result)
        renderer = drawn(ax)
        labels = [text for text in ax.texts if text.get_bbox_patch() is not None]
        assert len(labels) == len(sl.plot.topology_graph(result))
        boxes = [text.get_bbox_patch().get_window_extent(renderer) for text in labels]
        for text, box in zip(labels, boxes):
            inner = text.get_window_extent(renderer)
            assert box.x0 <= inner.x0 and inner.x1 <= box.x1, f"{text.get_text()!r} overflows its box"
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not a.overlaps(b), "two boxes of the topology overlap"
        arrows = [child.arrow_patch for child in ax.texts if getattr(child, "arrow_patch", None)]
        assert len(arrows) == sl.plot.topology_graph(result).number_of_edges()
        for arrow in arrows:   # every point of the arrow, head included, outside every box
            assert isinstance(arrow, FancyArrowPatch)
            path = arrow.get_path()
            points = path.vertices if path.codes is None else path.vertices[path.codes != Path.CLOSEPOLY]
            for point in arrow.get_transform().transform(points):
                inside = [text.get_text() for text, box in zip(labels, boxes)
                          if box.shrunk(0.9, 0.9).contains(*point)]
                assert not inside, f"an arrow runs over the label {inside[0]!r}"


def test_latency_figures_say_they_show_successful_requests(shops):
    over_time = sl.plot.latency_over_time(shops["sync"])
    assert "success" in over_time.get_title() and "successful" in over_time.get_ylabel()
    assert "success" in sl.plot.latency_distribution(shops).get_title()
    assert "successful" in sl.plot.latency_percentiles(shops).get_title()


def test_lines_of_several_results_are_told_apart_where_they_coincide(shops):
    results = {"first": cascade(timeout=0.15, retry=sl.Retry(attempts=3), duration=20).run(),
               "same again": cascade(timeout=0.15, retry=sl.Retry(attempts=3), duration=20).run()}
    ax = sl.plot.sent_per_call(results, "payments", caller="orders")
    first, second = ax.get_lines()[:2]
    assert np.array_equal(first.get_ydata(), second.get_ydata(), equal_nan=True)   # they coincide
    assert (first.get_linewidth(), first.get_linestyle()) != (second.get_linewidth(), second.get_linestyle())
    assert first.get_linewidth() > second.get_linewidth(), "the wide line must be the one underneath"


def test_overview_takes_a_title(shops):
    axes = sl.plot.overview(shops["sync"], title="shop (sync): payments crashes at t = 5 s for 3 s")
    assert axes[0, 0].figure.get_suptitle() == "shop (sync): payments crashes at t = 5 s for 3 s"
    assert sl.plot.overview(shops["sync"])[0, 0].figure.get_suptitle() == ""


def test_time_axes_and_the_alert_speak_the_worlds_time_unit():
    result = one_release("big-bang", traffic=5, seed=4).run()
    assert result.time_unit == "min"
    assert sl.plot.latency_over_time(result).get_xlabel() == "time (min)"
    assert sl.plot.canary(result, "orders").get_xlabel() == "time (min)"
    alerts = result.logs[result.logs.message.str.startswith("alert:")]
    assert len(alerts) and alerts.message.str.contains(r" over \d+ min \(").all()
    seconds = sl.scenarios.shop(duration=2).run()
    assert sl.plot.latency_over_time(seconds).get_xlabel() == "time (s)"
    with pytest.raises(sl.ModelError, match="time_unit"):
        sl.World(time_unit="hours")


def test_the_canary_figure_of_a_service_never_deployed_says_so():
    ax = sl.plot.canary(shop(duration=2).run(), "orders")
    assert [text.get_text() for text in ax.texts] == ["no deployment of orders in this run"]
