"""One trace as a waterfall: every span on a shared time line."""

from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .. import traces
from ._common import FAILED, axes

PATH = "black"  # the outline of the spans on the critical path

_KIND_COLOURS = {"server": "tab:blue", "client": "tab:gray", "producer": "tab:orange",
                 "consumer": "tab:green"}
_KIND_NAMES = {"server": "server: a service at work", "client": "client: waiting for a call",
               "consumer": "consumer: handling a message"}


def waterfall(result, trace_id=None, ax=None, critical_path=True):
    """Every span of one trace as a bar on a shared time line (default: the slowest trace).

    Indentation shows who called whom; colour shows the span kind (the legend names
    them); the hatched start of a bar is time spent waiting for a free worker; failed
    spans are red. A publish is an orange diamond, linked by a dotted line to the
    consumers that handled its message. With ``critical_path``, the spans the
    end-to-end latency waited on (``sl.traces.critical_path``) have a bold outline.
    """
    trace_id = trace_id or result.slowest_trace()
    spans = traces.spans_of(result, trace_id).sort_values(["start", "span_id"])
    ax = axes(ax, size=(8, 0.35 * len(spans) + 1.6))
    depth = _depths(spans)
    origin = spans.start.min()
    end = spans.end.fillna(result.end_time)
    rows = {span_id: row for row, span_id in enumerate(spans.span_id)}
    labels, kinds, waited, failed = [], set(), False, False
    on_path = set(traces.critical_path(result, trace_id).span_id) if critical_path else set()
    for row, span in enumerate(spans.itertuples()):
        start_ms = (span.start - origin) * 1000
        duration = (end[span.Index] - span.start) * 1000
        labels.append("  " * depth[span.span_id] + f"{span.service}: {span.operation}")
        if span.kind == "producer":
            ax.plot(start_ms, row, "D", color=_KIND_COLOURS["producer"], ms=6, zorder=3)
            continue
        colour = _KIND_COLOURS[span.kind] if span.status == "ok" else FAILED
        kinds.add(span.kind)
        failed |= span.status != "ok"
        width = max(duration, 0.05)  # an instant span still shows as a sliver
        ax.barh(row, width, left=start_ms, color=colour, alpha=0.85)
        if span.wait > 0:
            waited = True
            ax.barh(row, span.wait * 1000, left=start_ms, color="white", hatch="///",
                    edgecolor=colour, alpha=0.9)
        if span.span_id in on_path:
            ax.barh(row, width, left=start_ms, fill=False, edgecolor=PATH, lw=1.8, zorder=4,
                    gid="critical_path")
        ax.text(start_ms + width, row, f" {duration:.1f} ms" + ("" if span.status == "ok"
                                                             else f" {span.status}"),
                va="center", fontsize=7)
    linked = _link_publishes(ax, spans, rows, origin)
    ax.set_yticks(range(len(spans)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(right=ax.get_xlim()[1] * 1.15)  # room for the last bar's label
    ax.set_xlabel("ms since the trace began")
    ax.set_title(f"Trace {trace_id[-8:]}")
    ax.legend(handles=_legend(kinds, waited, failed, linked, bool(on_path)), loc="lower left",
              fontsize=7, framealpha=0.9)
    return ax


def _link_publishes(ax, spans, rows, origin):
    """A dotted line from each publish to the start of each consumer span it caused."""
    producers = spans[spans.kind == "producer"].set_index("span_id")
    consumers = spans[(spans.kind == "consumer") & spans.parent_id.isin(producers.index)]
    for consumer in consumers.itertuples():
        published = (producers.start[consumer.parent_id] - origin) * 1000
        ax.plot([published, (consumer.start - origin) * 1000],
                [rows[consumer.parent_id], rows[consumer.span_id]], ":",
                color=_KIND_COLOURS["producer"], lw=1.2, zorder=2)
    return len(producers) > 0


def _legend(kinds, waited, failed, published, path=False):
    handles = [Patch(color=_KIND_COLOURS[kind], alpha=0.85, label=_KIND_NAMES[kind])
               for kind in ("server", "client", "consumer") if kind in kinds]
    if waited:
        handles.append(Patch(facecolor="white", edgecolor="tab:blue", hatch="///",
                             label="waiting for a worker"))
    if failed:
        handles.append(Patch(color=FAILED, label="failed"))
    if published:
        handles.append(Line2D([], [], color=_KIND_COLOURS["producer"], marker="D", ls=":",
                              label="publish, and who consumed it"))
    if path:
        handles.append(Patch(fill=False, edgecolor=PATH, lw=1.8,
                             label="critical path: what the latency waited on"))
    return handles


def _depths(spans):
    parents = dict(zip(spans.span_id, spans.parent_id))
    depth = {}

    def find(span_id):
        if span_id not in depth:
            parent = parents.get(span_id, "")
            depth[span_id] = 0 if parent not in parents else find(parent) + 1
        return depth[span_id]

    for span_id in spans.span_id:
        find(span_id)
    return depth
