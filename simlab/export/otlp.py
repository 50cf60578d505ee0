"""OTLP/JSON: the run's spans and log lines as an OpenTelemetry Collector receives them.

``otlp_traces`` returns an ``ExportTraceServiceRequest`` and ``otlp_logs`` an
``ExportLogsServiceRequest``, as plain dicts in OTLP's JSON encoding, the body of a
``POST /v1/traces`` (or ``/v1/logs``) to a collector's ``otlp`` receiver over HTTP.

How one row of ``result.spans`` becomes an OTLP span::

    {"traceId": "0000...0001",          hex, not base64: OTLP/JSON's one exception
     "spanId": "0000000000000004",      to protobuf's JSON mapping
     "parentSpanId": "0000000000000003",   (left out for a root span)
     "name": "place",                   the operation
     "kind": 2,                         an integer: 1 internal, 2 server, 3 client,
                                        4 producer, 5 consumer (names are not allowed)
     "startTimeUnixNano": "1767225600009670000",   64-bit integers are strings in
     "endTimeUnixNano": "1767225600013313000",     JSON (JavaScript numbers stop at 2**53)
     "attributes": [{"key": "rpc.method", "value": {"stringValue": "place"}}, ...],
     "events": [{"timeUnixNano": "...", "name": "exception", "attributes": [...]}],
     "links": [{"traceId": "...", "spanId": "..."}],   a consumer's producer
     "status": {"code": 2, "message": "..."}}          0 unset, 1 ok, 2 error

Spans are grouped by who made them: one ``resourceSpans`` per (service, version), its
resource carrying ``service.name`` and ``service.version``, holding one ``scopeSpans``
(the instrumentation scope ``simlab``).

Why plain dicts and not the official encoder (``opentelemetry-exporter-otlp-proto-
common``)? That encoder takes the SDK's ``ReadableSpan`` objects: we would first have to
rebuild SDK spans (with their clocks, resources and scopes) from the table, which is more
code than writing the JSON, and slower. The layout is small and fixed, and the tests prove
it right by parsing every export into the official protobuf messages (opentelemetry-proto).
"""

import numbers

from ..telemetry import rare_collections
from .select import Selection

SPAN_KIND = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
STATUS_CODE = {"in_flight": 0, "ok": 1, "error": 2, "timeout": 2, "rejected": 2}
SCOPE = {"name": "simlab"}


def value(python):
    """A Python value as an OTLP ``AnyValue``; 64-bit integers go as strings."""
    if isinstance(python, str):
        return {"stringValue": python}
    if isinstance(python, bool):  # before int: True is an int in Python
        return {"boolValue": python}
    if isinstance(python, numbers.Integral):
        return {"intValue": str(int(python))}
    if isinstance(python, numbers.Real):
        return {"doubleValue": float(python)}
    return {"stringValue": str(python)}


def pair(key, python):
    """One OTLP attribute: ``{"key": ..., "value": AnyValue}``."""
    return {"key": key, "value": value(python)}


def attributes(mapping, made=None, encode=pair):
    """A dict as a list of OTLP attributes (or what ``encode(key, value)`` makes).

    ``made``, a dict, keeps the attributes already encoded: most spans repeat the same
    few (``rpc.system: simlab`` ...), and encoding each once took a third off the time
    (and memory) of a large export. The lists then share those dicts: read them, do not
    change them.
    """
    if made is None:
        return [encode(key, python) for key, python in mapping.items()]
    encoded = []
    for key, python in mapping.items():
        seen = (key, type(python), python)  # with the type: 1, 1.0 and True are equal keys
        try:
            found = made.get(seen)
        except TypeError:  # an unhashable value (a list ...): encode it each time
            found = seen = None
        if found is None:
            found = encode(key, python)
            if seen is not None:
                made[seen] = found
        encoded.append(found)
    return encoded


def resource(service, version=None):
    """The resource of one service (and version): who produced the telemetry."""
    found = {"service.name": service or "simlab"}  # a line of no service: the simulator
    if version is not None:
        found["service.version"] = version
    return {"attributes": attributes(found)}


def _events(selection):
    """Each chosen span's events as OTLP span events, by span id."""
    events = selection.events
    by_span = {}
    for span_id, time, name, detail in zip(events.span_id, selection.nanos(events.time).tolist(),
                                           events.name, events.detail):
        key = "exception.message" if name == "exception" else "simlab.detail"
        event = {"timeUnixNano": str(time), "name": name}
        if detail:
            event["attributes"] = [{"key": key, "value": {"stringValue": detail}}]
        by_span.setdefault(span_id, []).append(event)
    return by_span


def spans(selection):
    """The chosen spans as OTLP span dicts, in the order of the table."""
    table = selection.spans
    events = _events(selection)
    rows = zip(table.trace_id, table.span_id, table.parent_id, table.operation, table.kind,
               table.status, selection.nanos(table.start).tolist(),
               selection.nanos(table.end).tolist(), selection.attributes,
               selection.status_messages)
    made, pairs = [], {}
    for trace, span, parent, name, kind, status, start, end, attrs, message in rows:
        otlp = {"traceId": trace, "spanId": span}
        if parent:
            otlp["parentSpanId"] = parent
        otlp.update(name=name, kind=SPAN_KIND[kind], startTimeUnixNano=str(start),
                    endTimeUnixNano=str(end), attributes=attributes(attrs, pairs))
        if span in events:
            otlp["events"] = events[span]
        if kind == "consumer":  # follows the producer span of its message
            otlp["links"] = [{"traceId": trace, "spanId": parent}]
        otlp["status"] = {"code": STATUS_CODE[status], "message": message} if message \
            else {"code": STATUS_CODE[status]}
        made.append(otlp)
    return made


def _grouped(keys, items):
    """``items`` grouped by ``keys``, groups in order of first appearance."""
    groups = {}
    for key, item in zip(keys, items):
        groups.setdefault(key, []).append(item)
    return groups


def traces_request(selection):
    """An ``ExportTraceServiceRequest`` (as a dict) of the selection's spans."""
    table = selection.spans
    groups = _grouped(zip(table.service, table.version), spans(selection))
    return {"resourceSpans": [
        {"resource": resource(service, version),
         "scopeSpans": [{"scope": SCOPE, "spans": group}]}
        for (service, version), group in groups.items()]}


def log_records(selection):
    """The chosen log lines as OTLP log records, each with the version of its span."""
    logs = selection.logs
    times = [str(time) for time in selection.nanos(logs.time).tolist()]
    made, pairs = [], {}
    for time, trace, span, level, number, body, attrs in zip(
            times, logs.trace_id, logs.span_id, logs.level, logs.severity_number.tolist(),
            logs.message, logs.attributes):
        # The simulator sees a line the moment it is written: observed = time.
        record = {"timeUnixNano": time, "observedTimeUnixNano": time, "severityNumber": number,
                  "severityText": level, "body": {"stringValue": body}}
        if attrs:
            record["attributes"] = attributes(attrs, pairs)
        if trace:
            record.update(traceId=trace, spanId=span)
        made.append(record)
    return made


def log_versions(selection):
    """The version of the service that wrote each chosen line (``result.logs.version``),
    None for a line outside any span (a system line, "" in the table)."""
    return [version or None for version in selection.logs.version]


def logs_request(selection):
    """An ``ExportLogsServiceRequest`` (as a dict) of the selection's log lines."""
    logs = selection.logs
    groups = _grouped(zip(logs.service, log_versions(selection)), log_records(selection))
    return {"resourceLogs": [
        {"resource": resource(service, version),
         "scopeLogs": [{"scope": SCOPE, "logRecords": group}]}
        for (service, version), group in groups.items()]}


def otlp_traces(result, **subset):
    """The run's spans as an OTLP/JSON ``ExportTraceServiceRequest`` (a dict).

    ``subset``: ``trace_ids``, ``errors_only``, ``window``, ``epoch`` (see
    ``simlab.export.select``).

    Example:
        >>> request = sl.export.otlp_traces(result, errors_only=True)
        >>> first = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    """
    with rare_collections():
        return traces_request(Selection(result, **subset))


def otlp_logs(result, **subset):
    """The run's log lines as an OTLP/JSON ``ExportLogsServiceRequest`` (a dict)."""
    with rare_collections():
        return logs_request(Selection(result, **subset))
