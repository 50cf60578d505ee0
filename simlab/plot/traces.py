"""One trace as a waterfall: every span on a shared time line."""

from ._common import FAILED, axes

_KIND_COLOURS = {"server": "tab:blue", "client": "tab:gray", "producer": "tab:orange",
                 "consumer": "tab:green"}


def waterfall(result, trace_id=None, ax=None):
    """Every span of one trace as a bar on a shared time line (default: the slowest trace).

    Indentation shows who called whom; colour shows the span kind; failed spans are red.
    """
    trace_id = trace_id or result.slowest_trace()
    spans = result.spans[result.spans.trace_id == trace_id].sort_values(["start", "span_id"])
    if spans.empty:
        raise ValueError(f"no spans for trace {trace_id!r}; pick one from result.requests.trace_id")
    ax = axes(ax, size=(8, 0.35 * len(spans) + 1.2))
    depth = _depths(spans)
    origin = spans.start.min()
    end = spans.end.fillna(result.end_time)
    labels = []
    for row, span in enumerate(spans.itertuples()):
        colour = _KIND_COLOURS[span.kind] if span.status == "ok" else FAILED
        start_ms = (span.start - origin) * 1000
        duration = (end[span.Index] - span.start) * 1000
        width = max(duration, 0.05)  # an instant span still shows as a sliver
        ax.barh(row, width, left=start_ms, color=colour, alpha=0.85)
        if span.wait > 0:
            ax.barh(row, span.wait * 1000, left=start_ms, color="white", hatch="///",
                    edgecolor=colour, alpha=0.9)
        labels.append("  " * depth[span.span_id] + f"{span.service}: {span.operation}")
        ax.text(start_ms + width, row, f" {duration:.1f} ms" + ("" if span.status == "ok"
                                                             else f" {span.status}"),
                va="center", fontsize=7)
    ax.set_yticks(range(len(spans)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(right=ax.get_xlim()[1] * 1.15)  # room for the last bar's label
    ax.set_xlabel("ms since the trace began (hatched: waiting for a worker)")
    ax.set_title(f"Trace {trace_id[-8:]}")
    return ax


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
