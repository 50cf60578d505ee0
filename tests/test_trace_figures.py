"""Figures of traces: the critical path on the waterfall, the service map from the
spans, and RED over time."""

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

import simlab as sl
from simlab.scenarios import shop


@pytest.fixture(scope="module")
def sync_shop():
    return shop("sync", rate=40, duration=20, seed=1, outage=("payments", 8, 3)).run()


def legend_texts(ax):
    legend = ax.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


def test_waterfall_outlines_exactly_the_critical_path(sync_shop):
    trace = sync_shop.slowest_trace()
    ax = sl.plot.waterfall(sync_shop, trace)
    outlined = [patch for patch in ax.patches if patch.get_gid() == "critical_path"]
    path = sl.traces.critical_path(sync_shop, trace)
    assert len(outlined) == len(path)
    assert "critical path: what the latency waited on" in legend_texts(ax)
    plain = sl.plot.waterfall(sync_shop, trace, critical_path=False)
    assert not [patch for patch in plain.patches if patch.get_gid() == "critical_path"]
    FigureCanvasAgg(ax.figure).draw()


def edges(ax):
    return {text.get_gid() for text in ax.texts if (text.get_gid() or "").startswith("edge")}


def test_dependency_graph_labels_every_edge_and_styles_unseen_ones():
    result = sl.scenarios.shop("sync", rate=20, duration=5, seed=1).run()
    ax = sl.plot.dependency_graph(result)
    assert edges(ax) == {f"edge {a}->{b} seen" for a, b in [
        ("gateway", "orders"), ("orders", "payments"), ("orders", "inventory"),
        ("orders", "shipping"), ("orders", "notifications")]}
    labels = [text.get_text() for text in ax.texts if "calls" in text.get_text()]
    assert len(labels) == 5 and all("errors" in label and "p99" in label for label in labels)
    drawn = sl.plot.dependency_graph(result, declared=[("gateway", "orders"),
                                                       ("gateway", "fraud")])
    assert "edge gateway->fraud unseen" in edges(drawn)
    assert "edge orders->payments undeclared" in edges(drawn)
    assert {"declared, never seen in a trace", "seen, not declared"} <= set(legend_texts(drawn))
    FigureCanvasAgg(drawn.figure).draw()


def test_red_has_three_panels_on_one_time_axis_with_the_outage_shaded(sync_shop):
    panels = sl.plot.red(sync_shop, "payments", "charge", window=1.0)
    assert len(panels) == 3
    assert [p.get_ylabel() for p in panels] == ["rate (/s)", "errors (/s)", "duration (ms)"]
    assert len({p.get_xlim() for p in panels}) == 1
    for panel in panels:
        shaded = [patch for patch in panel.patches if patch.get_alpha() == 0.12]
        assert len(shaded) == 1, "the payments crash is shaded on every panel"
    rate = panels[0].get_lines()[0].get_ydata()
    errors = panels[1].get_lines()[0].get_ydata()
    assert (errors[9:11] == rate[9:11]).all() and rate[9] > 20, "all refused while down"
    assert (errors[:8] == 0).all() and (errors[12:] == 0).all()
    with pytest.raises(sl.ModelError, match="unknown service"):
        sl.plot.red(sync_shop, "paymnets")
    with pytest.raises(sl.ModelError, match="no operation 'refund'"):
        sl.plot.red(sync_shop, "payments", "refund")


def test_a_figure_of_an_unknown_trace_or_service_is_refused_by_name(sync_shop):
    with pytest.raises(sl.ModelError, match="unknown trace id '1'; known: "):
        sl.plot.waterfall(sync_shop, "1")
    with pytest.raises(sl.ModelError, match=r"unknown service 'zz'; known: \[.*'gateway'"):
        sl.plot.canary(sync_shop, "zz")
