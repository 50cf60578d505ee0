"""JSON lines: one log record per line, in the OpenTelemetry log data model's own words.

Each line of ``logs.jsonl`` is one row of ``result.logs`` with the field names of the
OpenTelemetry log data model (its "Log and Event Record Definition")::

    {"Timestamp": "1767225600013313000",    Unix nanoseconds, as a string
     "ObservedTimestamp": "1767225600013313000",
     "SeverityText": "info", "SeverityNumber": 9,
     "Body": "order accepted",
     "Attributes": {"order": 1},
     "TraceId": "0000...0001", "SpanId": "0000000000000004",   (absent outside a trace)
     "Resource": {"service.name": "orders", "service.version": "1.0"}}

Any tool that reads JSON lines (``jq``, pandas' ``read_json(lines=True)``, a log shipper)
can load it.
"""

import orjson

from .otlp import log_versions
from ..telemetry import rare_collections
from .select import Selection


def records(selection):
    """The chosen log lines as dicts of the log data model, one per line."""
    logs = selection.logs
    made = []
    for time, trace, span, service, version, level, number, body, attributes in zip(
            selection.nanos(logs.time).tolist(), logs.trace_id, logs.span_id, logs.service,
            log_versions(selection), logs.level, logs.severity_number.tolist(), logs.message,
            logs.attributes):
        record = {"Timestamp": str(time), "ObservedTimestamp": str(time),
                  "SeverityText": level, "SeverityNumber": number, "Body": body,
                  "Attributes": {str(key): _plain(value) for key, value in attributes.items()}}
        if trace:
            record.update(TraceId=trace, SpanId=span)
        resource = {"service.name": service or "simlab"}
        if version is not None:
            resource["service.version"] = version
        record["Resource"] = resource
        made.append(record)
    return made


def _plain(value):
    """A value JSON can hold as it is; anything else (a tuple key, an object) as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # a numpy number
        return value.item()
    return str(value)


def text(records):
    """The records as JSON lines."""
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def log_lines(result, **subset):
    """The run's log lines as a list of dicts in the log data model (the lines of
    ``logs.jsonl``); ``subset`` as in ``simlab.export.select``."""
    with rare_collections():
        return records(Selection(result, **subset))
