"""The service graph the traces reveal, and the RED metrics of one endpoint over time."""

from matplotlib.lines import Line2D

from .. import traces
from ..errors import ModelError
from ._common import FAILED, axes, shade_faults, time_label
from .canvas import figure
from .topology import _layers

#: How an edge is drawn, by its state (see ``sl.traces.dependency_graph``).
_EDGE_STYLE = {"seen": dict(color="black", ls="-", lw=1.2),
               "unseen": dict(color="tab:gray", ls=":", lw=1.2),
               "undeclared": dict(color=FAILED, ls="-", lw=1.6)}
_STATE_NAMES = {"seen": "seen in the traces", "unseen": "declared, never seen in a trace",
                "undeclared": "seen, not declared"}


def dependency_graph(result, declared=True, ax=None):
    """The service map a tracing backend draws, from the spans: an arrow per caller ->
    callee, labelled with its calls, error rate and p99 (ms).

    With ``declared`` (True, or a list of ``(caller, callee)`` pairs), edges the model
    declares but no trace shows are grey and dotted (a hop that lost the trace
    context), and edges the traces show but nobody declared are red. Messages are
    dashed in orange, as in ``topology``.
    """
    ax = axes(ax, size=(10, 3.8))
    graph = traces.dependency_graph(result, declared=declared)
    graph.remove_nodes_from([n for n in list(graph) if graph.degree(n) == 0])
    pos = {}
    for x, nodes in enumerate(_layers(graph)):
        for i, node in enumerate(nodes):
            pos[node] = (x, (len(nodes) - 1) / 2 - i)
    boxes = {node: ax.text(x, y, node, ha="center", va="center", fontsize=8, zorder=3,
                           bbox=dict(boxstyle="square,pad=0.45", fc="#cfe2f3", ec="#6d9eeb",
                                     lw=0.8))
             for node, (x, y) in pos.items()}
    states = set()
    for source, target, data in graph.edges(data=True):
        state = data.get("state", "seen")
        states.add(state)
        style = dict(_EDGE_STYLE[state])
        if data["kind"] == "message" and state == "seen":
            style.update(color="tab:orange", ls="--")
        arrow = ax.annotate("", xy=pos[target], xytext=pos[source], zorder=2,
                            arrowprops=dict(arrowstyle="-|>", mutation_scale=11, shrinkA=1,
                                            shrinkB=1, patchA=boxes[source].get_bbox_patch(),
                                            patchB=boxes[target].get_bbox_patch(), **style))
        arrow.set_gid(f"edge {source}->{target} {state}")
        (x0, y0), (x1, y1) = pos[source], pos[target]
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.08, _edge_label(data), ha="center",
                va="bottom", fontsize=6.5, color=style["color"], zorder=4,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    xs = [x for x, _ in pos.values()] or [0]
    ys = [y for _, y in pos.values()] or [0]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_title("Dependencies seen in the traces: calls (solid), messages (dashed)"
                 + (", against the declared ones" if declared else ""), fontsize=9)
    handles = [Line2D([], [], label=_STATE_NAMES[s], **_EDGE_STYLE[s])
               for s in ("seen", "unseen", "undeclared") if s in states and declared]
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.9)
    ax.axis("off")
    return ax


def _edge_label(edge):
    if not edge["calls"]:
        return "no traced call"
    what = "calls" if edge["kind"] == "call" else "messages"
    return (f"{edge['calls']:,} {what}\n{edge['error_rate']:.1%} errors, "
            f"p99 {edge['p99'] * 1000:.0f} ms")


def red(result, service, operation=None, window=1.0):
    """Rate, errors and p99 duration of one service (or one of its operations) over
    time, in three stacked panels on one time axis, with the faults shaded.

    The three numbers of the RED method (rate, errors, duration) are what the users of
    a service feel; the shading says what the nemesis was doing meanwhile. Returns the
    three Axes.
    """
    if service not in result.services:
        raise ModelError(f"plot.red: unknown service {service!r}; known: "
                         f"{sorted(result.services)}")
    by = ("service", "operation") if operation is not None else ("service",)
    table = traces.red(result, window=window, by=by)
    table = table[table.service == service]
    if operation is not None:
        known = sorted(table.operation.unique())
        if operation not in known:
            raise ModelError(f"plot.red: {service} has no operation {operation!r} that "
                             f"served requests; it has {known}")
        table = table[table.operation == operation]
    panels = figure(figsize=(8, 5.5)).subplots(3, 1, sharex=True)
    middle = table.time + window / 2
    panels[0].plot(middle, table.rate, color="tab:blue")
    panels[0].set_ylabel(f"rate (/{result.time_unit})")
    panels[1].plot(middle, table.errors, color=FAILED)
    panels[1].set_ylabel(f"errors (/{result.time_unit})")
    panels[2].plot(middle, table.p99 * 1000, color="tab:purple", label="p99")
    panels[2].plot(middle, table.p50 * 1000, color="tab:purple", alpha=0.45, label="p50")
    panels[2].set_ylabel("duration (ms)")
    panels[2].set_xlabel(time_label(result, "simulated time"))
    panels[2].legend(loc="upper right", fontsize=7)
    for i, panel in enumerate(panels):
        shade_faults(panel, result, label=i == 0)
        panel.set_ylim(bottom=0)
        panel.grid(alpha=0.3)
    if len(result.faults):
        panels[0].legend(loc="upper right", fontsize=7)
    what = f"{service}.{operation}" if operation is not None else service
    panels[0].set_title(f"RED of {what}: rate, errors, duration per {window:g} s")
    return panels
