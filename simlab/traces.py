"""Reading traces: where the time went, who depends on whom, and how each service is doing.

A trace is a tree of spans (``result.spans``): the root is the work the client asked for,
and every other span was caused by its parent. These functions answer the questions a
tracing tool (Jaeger, Tempo, Zipkin) answers, each as a plain pandas DataFrame:

* ``spans_of(result, trace_id)``: the spans of one trace;
* ``critical_path(result, trace_id)``: which spans the end-to-end latency waited on;
* ``self_time(result)``, ``time_by_endpoint(result)``: the time each span spent itself,
  not waiting on its children, and where the time of the whole run goes;
* ``dependencies(result)``, ``dependency_graph(result)``: the service graph the spans
  reveal, with calls, errors and latency per edge, compared with the model's;
* ``red(result)``: Rate, Errors and Duration of each endpoint over time;
* ``search(result, service=..., status=..., min_duration=...)``: find traces;
* ``traceparent(trace_id, span_id)``: the W3C header that carries the context.

Sampling (keeping only some traces, as a real system must) is in ``HeadSampling``,
``TailSampling``, ``sample`` and ``sampling_report`` (see ``simlab.trace_sampling``).

Times are simulated seconds. A span still open when the run stopped counts as ending
then (``result.end_time``).
"""

import networkx as nx
import numpy as np
import pandas as pd

from .errors import ModelError
from .records import OUTCOMES
from .semconv import FAILED
from .trace_sampling import HeadSampling, TailSampling, sample, sampling_report

__all__ = ["spans_of", "critical_path", "self_time", "time_by_endpoint", "dependencies",
           "dependency_graph", "red", "search", "traceparent", "HeadSampling",
           "TailSampling", "sample", "sampling_report"]

_HEX = set("0123456789abcdef")


def traceparent(trace_id, span_id, sampled=True):
    """The W3C ``traceparent`` header a call or a message carries:
    ``00-<trace id, 32 hex>-<parent span id, 16 hex>-<flags>``.

    The receiver reads it to make its span a child of ``span_id`` in trace ``trace_id``;
    the flags say whether the trace is sampled (``01``) or not (``00``), so that every
    service downstream keeps or drops the trace as the first one decided.

    Example:
        >>> traceparent("1", "2")
        '00-00000000000000000000000000000001-0000000000000002-01'
    """
    parts = []
    for name, value, width in (("trace_id", trace_id, 32), ("span_id", span_id, 16)):
        text = format(value, "x") if isinstance(value, (int, np.integer)) else str(value)
        text = text.lower().rjust(width, "0")
        if len(text) != width or not set(text) <= _HEX or set(text) == {"0"}:
            raise ModelError(f"traceparent: {name} must be a non-zero id of at most {width} "
                             f"hex digits (as in result.spans.{name}); got {value!r}")
        parts.append(text)
    return f"00-{parts[0]}-{parts[1]}-{'01' if sampled else '00'}"


# -- checks

def _known(what, value, known, hint=""):
    if value not in set(known):
        shown = sorted(known)
        more = f" ... ({len(shown)} in all)" if len(shown) > 12 else ""
        raise ModelError(f"unknown {what} {value!r}; known: {shown[:12]}{more}{hint}")


def spans_of(result, trace_id):
    """The spans of one trace (rows of ``result.spans``); a ``ModelError`` if it has none."""
    spans = result.spans
    trace = spans[spans.trace_id == trace_id]
    if trace.empty:
        _known("trace id", trace_id, spans.trace_id.unique(),
               "; pick one from result.requests.trace_id or result.traces().trace_id")
    return trace


def _ended(result, spans):
    """``spans`` with a span still open at the end of the run ending then."""
    if spans.end.isna().any():
        spans = spans.assign(end=spans.end.fillna(result.end_time))
        spans = spans.assign(duration=spans.end - spans.start)
    return spans


def _percentiles(grouped, column, prefix=""):
    """p50 and p99 of ``column`` per group, as two columns (pandas' own grouped quantile:
    a Python function per group would take seconds on a long run)."""
    values = grouped[column]
    return {f"{prefix}p50": values.quantile(0.5), f"{prefix}p99": values.quantile(0.99)}


# -- the critical path

def critical_path(result, trace_id):
    """The spans the end-to-end latency of one trace waited on, in time order.

    Walk back from the end of the root span (as Jaeger does): at each moment, the child
    that ended last before it is the one the parent was waiting for; follow it down,
    and when it began, go back to its parent and look again. Time between the children
    followed is the parent's on the path: its own work, its wait for a worker, a
    network hop, but also any stretch in which a child ran that was not followed (one
    that overlapped the followed child and ended after it began). So a parent's
    ``on_path`` can exceed its self time (``self_time``) when its children overlap.
    Children running in parallel with the one followed are off the path: making them
    faster would not make the request faster. A child is clipped to its parent: one
    that ended after it (a consumer of a message its parent published) counts only up
    to its parent's end, one that started before it (a clock skewed between two
    hosts) only from its parent's start.

    Returns one row per span on the path: ``trace_id``, ``span_id``, ``service``,
    ``operation``, ``kind``, ``start``, ``end``, and ``on_path``, the seconds of the path
    the span accounts for itself. ``on_path`` sums to the root span's duration, so
    ``path.groupby("service").on_path.sum()`` says which service the user waited on.
    """
    trace = _ended(result, spans_of(result, trace_id))
    roots = trace[trace.parent_id == ""]
    root = roots.index[0] if len(roots) else trace.start.idxmin()
    start, end = trace.start.to_dict(), trace.end.to_dict()
    children = {}
    index_of = dict(zip(trace.span_id, trace.index))
    for row, parent in zip(trace.index, trace.parent_id):
        if parent in index_of:
            children.setdefault(index_of[parent], []).append(row)
    on_path = {}

    def walk(span, begin, until):
        """Give ``span``'s time from ``begin`` to ``until`` to it and its children."""
        cursor = until
        own = 0.0
        # Children clipped to the part of the span being walked, latest end first.
        kids = sorted(((min(end[kid], until), kid) for kid in children.get(span, ())
                       if start[kid] < until), reverse=True)
        for kid_end, kid in kids:
            kid_start = max(start[kid], begin)
            if kid_end > cursor or kid_end <= kid_start:
                continue  # ran alongside the child followed, or has no time left here
            own += cursor - kid_end
            walk(kid, kid_start, kid_end)
            cursor = kid_start
        on_path[span] = own + max(cursor - begin, 0.0)

    walk(root, start[root], end[root])
    path = trace.loc[list(on_path)].assign(on_path=pd.Series(on_path))
    path = path.sort_values(["start", "end"], ascending=[True, False], kind="stable")
    return path[["trace_id", "span_id", "service", "operation", "kind", "start", "end",
                 "on_path"]].reset_index(drop=True)


# -- self time

def self_time(result, trace_ids=None):
    """The spans table (of ``trace_ids``, default all) plus ``self_time``: the span's
    duration minus the time at least one of its children was running (children clipped
    to the span; overlapping children count once).

    A parent that only waits on its child has a self time near zero; its duration is
    the child's doing. A server span's self time is its work and its wait for a worker;
    a client span's is the network hops around the call.
    """
    spans = result.spans
    if trace_ids is not None:
        trace_ids = [trace_ids] if isinstance(trace_ids, str) else list(trace_ids)
        for trace_id in trace_ids:
            if not (spans.trace_id == trace_id).any():
                _known("trace id", trace_id, spans.trace_id.unique())
        spans = spans[spans.trace_id.isin(trace_ids)]
    spans = _ended(result, spans)
    covered = _covered(spans)
    return spans.assign(self_time=(spans.duration - covered.reindex(spans.span_id, fill_value=0.0)
                                   .to_numpy()).clip(lower=0.0))


def _covered(spans):
    """Seconds of each parent span (by span id) during which a child was running."""
    parents = spans[["span_id", "start", "end"]].rename(
        columns={"span_id": "parent_id", "start": "p_start", "end": "p_end"})
    kids = spans[["parent_id", "start", "end"]].merge(parents, on="parent_id")
    kids = kids.assign(start=np.maximum(kids.start, kids.p_start),
                       end=np.minimum(kids.end, kids.p_end))
    kids = kids[kids.end > kids.start].sort_values(["parent_id", "start"], kind="stable")
    if kids.empty:
        return pd.Series(dtype=float)
    # The union of intervals, sorted by start: each adds what lies beyond the furthest
    # end reached by the ones before it.
    reached = kids.groupby("parent_id", sort=False).end.cummax()
    before = reached.groupby(kids.parent_id, sort=False).shift().fillna(-np.inf)
    added = (kids.end - np.maximum(kids.start, before)).clip(lower=0.0)
    return added.groupby(kids.parent_id, sort=False).sum()


def time_by_endpoint(result):
    """Where the time goes: self time per (service, operation), largest share first.

    Columns: ``service``, ``operation``, ``kind``, ``spans``, ``self_p50``, ``self_p99``,
    ``self_total`` (seconds), ``wait_total`` (of which waiting for a worker) and
    ``share`` of all self time in the run. The top rows are where making things faster
    pays; an endpoint with a large ``wait_total`` needs workers, not faster code.
    """
    spans = self_time(result)
    grouped = spans.groupby(["service", "operation", "kind"], sort=False)
    table = pd.DataFrame({"spans": grouped.size(),
                          **_percentiles(grouped, "self_time", prefix="self_"),
                          "self_total": grouped.self_time.sum(),
                          "wait_total": grouped.wait.sum()})
    total = table.self_total.sum()
    table["share"] = table.self_total / total if total > 0 else 0.0
    return table.sort_values("self_total", ascending=False, kind="stable").reset_index()


# -- dependencies

def dependencies(result):
    """The service graph the traces reveal: one row per edge caller -> callee.

    An edge is seen where a span of one service is the parent of a span of another: a
    client span and the server span of the call (``kind`` "call"), a producer span and a
    consumer span of its message ("message"). That is how a tracing backend draws its
    service map, and why a hop that does not propagate the trace context vanishes from
    it: the callee's span has no parent. A call refused before it reached the callee
    (by the caller's own circuit breaker, say) has no server span and is not counted.

    Columns: ``caller``, ``callee``, ``kind``, ``calls``, ``errors`` (calls whose client
    span failed; for a message, whose handling failed), ``error_rate``, ``p50``, ``p99``
    (seconds: a call's duration as its caller saw it; for a message, from publish to
    the end of its handling).
    """
    spans = _ended(result, result.spans)
    parents = spans[spans.kind.isin(["client", "producer"])][
        ["span_id", "service", "kind", "start", "end", "status"]]
    parents.columns = ["parent_id", "caller", "parent_kind", "sent", "answered", "caller_status"]
    pairs = spans[spans.kind.isin(["server", "consumer"])][
        ["parent_id", "service", "kind", "end", "status"]].merge(parents, on="parent_id")
    call = pairs.parent_kind == "client"
    pairs = pairs[(call & (pairs.kind == "server")) | (~call & (pairs.kind == "consumer"))]
    call = pairs.parent_kind == "client"
    pairs = pairs.assign(
        callee=pairs.service, kind=np.where(call, "call", "message"),
        failed=np.isin(np.where(call, pairs.caller_status, pairs.status), FAILED),
        seconds=np.where(call, pairs.answered, pairs.end) - pairs.sent)
    grouped = pairs.groupby(["caller", "callee", "kind"], sort=True)
    table = pd.DataFrame({"calls": grouped.size(), "errors": grouped.failed.sum(),
                          **_percentiles(grouped, "seconds")}).reset_index()
    table["errors"] = table.errors.astype("int64")
    table.insert(5, "error_rate", table.errors / table.calls)
    return table[["caller", "callee", "kind", "calls", "errors", "error_rate", "p50", "p99"]]


def declared_dependencies(result):
    """The edges the model means to have, which need no trace context to know: each
    call a client span names (the caller knows whom it calls), and, for each topic a
    service published to, every service with a consumer group on it.

    Columns: ``caller``, ``callee``, ``kind`` ("call" | "message").
    """
    spans = result.spans
    calls = spans[spans.kind == "client"]
    edges = {(caller, operation.split(".", 1)[0], "call")
             for caller, operation in zip(calls.service, calls.operation)}
    consumers = {}
    for broker in result.world.brokers.values():
        for topic in broker.topics.values():
            consumers[broker.name, topic.name] = [s.service.name for s in topic.groups.values()]
    producers = spans[spans.kind == "producer"]
    for caller, broker, topic in zip(producers.service, producers.broker, producers.topic):
        edges.update((caller, callee, "message") for callee in consumers.get((broker, topic), ()))
    return pd.DataFrame(sorted(edges), columns=["caller", "callee", "kind"])


def dependency_graph(result, declared=False):
    """The service graph as a ``networkx.DiGraph``: a node per service, an edge per row
    of ``dependencies(result)`` with its columns as attributes.

    With ``declared=True``, the model's own edges (``declared_dependencies``) are added
    and every edge gets ``state``: "seen" (declared and in the traces), "unseen"
    (declared, never in the traces: a hop that broke the trace context, or a call that
    never got through) or "undeclared" (in the traces only). ``declared`` may also be
    a list of ``(caller, callee)`` pairs: the architecture diagram you believe in.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(result.services)
    for edge in dependencies(result).to_dict("records"):
        graph.add_edge(edge.pop("caller"), edge.pop("callee"), **edge)
    if declared is False or declared is None:
        return graph
    if declared is True:
        expected = declared_dependencies(result)
        expected = list(zip(expected.caller, expected.callee, expected.kind))
    else:
        try:
            expected = [(caller, callee, "call") for caller, callee in declared]
        except (TypeError, ValueError):
            raise ModelError("dependency_graph: declared must be True, False or a list of "
                             f"(caller, callee) pairs; got {declared!r}") from None
    for _, _, data in graph.edges(data=True):
        data["state"] = "undeclared"
    for caller, callee, kind in expected:
        if graph.has_edge(caller, callee):
            graph[caller][callee]["state"] = "seen"
        else:
            graph.add_edge(caller, callee, kind=kind, calls=0, errors=0,
                           error_rate=np.nan, p50=np.nan, p99=np.nan, state="unseen")
    return graph


# -- RED metrics

def red(result, window=1.0, by=("service", "operation")):
    """Rate, Errors, Duration per ``window`` seconds, from server and consumer spans:
    the three numbers that say how a service treats its users.

    A span counts in the window in which it ended (as a metric is recorded when the
    request completes). Columns: ``time`` (the window's start), the ``by`` columns,
    ``rate`` (spans per second), ``errors`` (failed spans per second), ``error_rate``
    (their share; NaN for an empty window), ``p50`` and ``p99`` of the duration
    (seconds). Every window from 0 to the end of the run has a row, empty or not.
    """
    if isinstance(window, bool) or not isinstance(window, (int, float)) \
            or not 0 < window < np.inf:
        raise ModelError(f"red: window must be a positive number of seconds, such as 1.0; "
                         f"got {window!r}")
    by = [by] if isinstance(by, str) else list(by)
    spans = result.spans
    for column in by:
        _known("column to group by", column, spans.columns, " (of result.spans)")
    spans = spans[spans.kind.isin(["server", "consumer"]) & spans.end.notna()]
    columns = ["time", *by, "rate", "errors", "error_rate", "p50", "p99"]
    if spans.empty:
        return pd.DataFrame({name: pd.Series(dtype=object if name in by else float)
                             for name in columns})
    spans = spans.assign(window=np.floor(spans.end / window).astype("int64"),
                         failed=spans.status.isin(FAILED))
    grouped = spans.groupby([*by, "window"], sort=True)
    table = pd.DataFrame({"count": grouped.size(), "failed": grouped.failed.sum(),
                          **_percentiles(grouped, "duration")})
    # Every window of every group, so that a quiet moment shows as a zero.
    windows = range(int(np.floor(result.end_time / window)) + 1)
    groups = spans[by].drop_duplicates().sort_values(by).itertuples(index=False, name=None)
    full = pd.MultiIndex.from_tuples([(*group, w) for group in groups for w in windows],
                                     names=[*by, "window"])
    table = table.reindex(full)
    table[["count", "failed"]] = table[["count", "failed"]].fillna(0)
    table = table.reset_index()
    table.insert(0, "time", table.pop("window") * float(window))
    table["rate"] = table.pop("count") / window
    table["errors"] = table.pop("failed") / window
    table["error_rate"] = (table.errors / table.rate).where(table.rate > 0)
    return table[columns]


# -- search

def search(result, service=None, operation=None, status=None, min_duration=None,
           max_duration=None, attributes=None):
    """Traces with at least one span that matches, as a tracing tool's search finds them.

    ``service``, ``operation``, ``status`` ("ok", "error", "timeout", "rejected",
    "in_flight") and ``attributes`` (a dict matched against ``result.span_attributes()``,
    e.g. ``{"messaging.destination.name": "orders"}``) must hold for one and the same
    span; ``min_duration`` and ``max_duration`` (seconds) apply to the trace's duration,
    that of its root span, the end-to-end latency. A trace whose root was still in
    flight when the run stopped has no duration yet (NaN): it lasted at least until the
    run's end, so ``min_duration`` counts that much (a request stuck for the rest of the
    run is what a search for slow traces is for), while ``max_duration`` leaves it out
    (it may last longer still).

    Returns one row per trace, earliest first: ``trace_id``, ``service`` and
    ``operation`` of its root, ``start``, ``duration``, ``spans``, ``errors`` (failed
    spans: error, timeout or rejected).

    Example:
        >>> search(result, service="payments", status="error", min_duration=0.5)  # doctest: +SKIP
    """
    spans = result.spans
    match = pd.Series(True, index=spans.index)
    if service is not None:
        _known("service", service, result.services)
        match &= spans.service == service
    if operation is not None:
        within = spans.operation[spans.service == service] if service else spans.operation
        _known("operation" + (f" of {service}" if service else ""), operation, within.unique())
        match &= spans.operation == operation
    if status is not None:
        _known("status", status, OUTCOMES)
        match &= spans.status == status
    if attributes is not None:
        if not isinstance(attributes, dict):
            raise ModelError(f"search: attributes must be a dict such as {{'rpc.method': "
                             f"'charge'}}; got {attributes!r}")
        candidates = spans[match]
        found = result.span_attributes(candidates)
        keep = [all(attrs.get(k) == v for k, v in attributes.items()) for attrs in found]
        match &= pd.Series(keep, index=candidates.index, dtype=bool).reindex(
            spans.index, fill_value=False)
    for name, value in (("min_duration", min_duration), ("max_duration", max_duration)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or value < 0):
            raise ModelError(f"search: {name} must be 0 or more seconds; got {value!r}")
    traces = _trace_rows(result, spans.trace_id[match].unique())
    if min_duration is not None:
        lasted = traces.duration.fillna(result.end_time - traces.start)
        traces = traces[lasted >= min_duration]
    if max_duration is not None:
        traces = traces[traces.duration <= max_duration]
    return traces.reset_index(drop=True)


def _trace_rows(result, trace_ids):
    """One row per trace of ``trace_ids``: its root, start, duration, spans, errors."""
    spans = result.spans
    spans = spans[spans.trace_id.isin(trace_ids)]
    roots = spans[spans.parent_id == ""].drop_duplicates("trace_id").set_index("trace_id")
    grouped = spans.groupby("trace_id", sort=False)
    table = pd.DataFrame({"service": roots.service, "operation": roots.operation,
                          "start": roots.start, "duration": roots.duration})
    table["spans"] = grouped.size()
    table["errors"] = spans.status.isin(FAILED).groupby(spans.trace_id, sort=False).sum()
    table = table.rename_axis("trace_id").reset_index()
    return table.sort_values(["start", "trace_id"], kind="stable", ignore_index=True)
