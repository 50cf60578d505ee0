"""Jaeger UI JSON: the run's traces as Jaeger's own query API returns them.

Jaeger UI opens this file directly (Search → JSON File). Its layout::

    {"data": [                                 one entry per trace
        {"traceID": "0000...0001",
         "spans": [{"traceID", "spanID", "operationName",
                    "references": [{"refType": "CHILD_OF", "traceID", "spanID"}],
                    "startTime": 1767225600009670,   Unix microseconds, an integer
                    "duration": 3643,                microseconds, an integer
                    "tags": [{"key": "span.kind", "type": "string", "value": "server"}],
                    "logs": [{"timestamp": ..., "fields": [tags]}],
                    "processID": "p1", "warnings": None}],
         "processes": {"p1": {"serviceName": "orders", "tags": [...]}}}]}

A span's parent becomes a ``CHILD_OF`` reference, except a consumer's parent (the
producer of its message): ``FOLLOWS_FROM``, since the producer does not wait for it.
Tags are the span's semantic-convention attributes plus ``span.kind``, and for a failed
span ``error: true`` and OpenTelemetry's ``otel.status_code``/``otel.status_description``
(what Jaeger shows for an OTLP span). Logs are the span's events and its log lines.
A process is a (service, version).
"""

import numbers

from . import otlp
from ..telemetry import rare_collections
from .select import Selection


def tag(key, python):
    """One Jaeger tag: the key, the value's type, and the value."""
    if isinstance(python, str):
        return {"key": key, "type": "string", "value": python}
    if isinstance(python, bool):
        return {"key": key, "type": "bool", "value": python}
    if isinstance(python, numbers.Integral):
        return {"key": key, "type": "int64", "value": int(python)}
    if isinstance(python, numbers.Real):
        return {"key": key, "type": "float64", "value": float(python)}
    return {"key": key, "type": "string", "value": str(python)}


def _logs(selection):
    """Span events and log lines as Jaeger logs, by span id, in time order."""
    by_span, made = {}, {}  # made: the fields already built, shared (see otlp.attributes)
    events = selection.events
    for span, time, name, detail in zip(events.span_id, selection.micros(events.time).tolist(),
                                        events.name, events.detail):
        fields = {"event": name, "message": detail} if detail else {"event": name}
        by_span.setdefault(span, []).append(
            {"timestamp": time, "fields": otlp.attributes(fields, made, encode=tag)})
    logs = selection.logs
    for span, time, level, message, attributes in zip(
            logs.span_id, selection.micros(logs.time).tolist(), logs.level, logs.message,
            logs.attributes):
        if span:
            fields = {"event": "log", "level": level, "message": message, **attributes}
            by_span.setdefault(span, []).append(
                {"timestamp": time, "fields": otlp.attributes(fields, made, encode=tag)})
    for found in by_span.values():
        found.sort(key=lambda log: log["timestamp"])  # stable: events first at a tie
    return by_span


def _tags(kind, status, attributes, message, made):
    """A span's tags; ``made`` keeps the tags already built (as in ``otlp.attributes``)."""
    more = {"span.kind": kind}
    if message:  # a failed span
        more.update({"error": True, "otel.status_code": "ERROR",
                     "otel.status_description": message})
    elif status == "ok":
        more["otel.status_code"] = "OK"
    return otlp.attributes(attributes, made, encode=tag) + otlp.attributes(more, made, tag)


def traces(selection):
    """The Jaeger JSON (a dict) of the selection's spans."""
    table = selection.spans
    logs = _logs(selection)
    processes = {}  # (service, version) -> process id, in order of appearance
    found = {}      # trace id -> {"traceID", "spans", "processes"}
    made = {}       # tags already built
    starts = selection.micros(table.start)
    durations = selection.micros(table.end) - starts
    rows = zip(table.trace_id, table.span_id, table.parent_id, table.operation, table.kind,
               table.status, starts.tolist(), durations.tolist(), table.service,
               table.version, selection.attributes, selection.status_messages)
    for trace, span, parent, name, kind, status, start, duration, service, version, \
            attributes, message in rows:
        process = processes.setdefault((service, version), f"p{len(processes) + 1}")
        entry = found.get(trace)
        if entry is None:
            entry = found[trace] = {"traceID": trace, "spans": [], "processes": {}}
        if process not in entry["processes"]:
            entry["processes"][process] = {"serviceName": service,
                                           "tags": [tag("service.version", version)]}
        references = [{"refType": "FOLLOWS_FROM" if kind == "consumer" else "CHILD_OF",
                       "traceID": trace, "spanID": parent}] if parent else []
        entry["spans"].append({
            "traceID": trace, "spanID": span, "operationName": name,
            "references": references, "startTime": start, "duration": duration,
            "tags": _tags(kind, status, attributes, message, made), "logs": logs.get(span, []),
            "processID": process, "warnings": None})
    return {"data": list(found.values())}


def jaeger_traces(result, **subset):
    """The run's traces as Jaeger UI JSON (a dict); ``subset`` as in
    ``simlab.export.select`` (``trace_ids``, ``errors_only``, ``window``, ``epoch``)."""
    with rare_collections():
        return traces(Selection(result, **subset))
