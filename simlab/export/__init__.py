"""Exports: a run's traces and logs in the formats real tracing tools load.

Everything here reads the run's records (``result.spans``, ``span_events``, ``logs``,
``queues``) and nothing else: an export is a translation of the tables, not a second
look at the simulation.

=========  ========================  =====================================================
format     file(s)                   open it in
=========  ========================  =====================================================
otlp       traces.otlp.json,         an OpenTelemetry Collector (``otlp`` receiver over
           logs.otlp.json            HTTP: POST to ``/v1/traces`` and ``/v1/logs``)
jaeger     traces.jaeger.json        Jaeger UI: Search → JSON File
chrome     trace.chrome.json         ui.perfetto.dev (Open trace file), chrome://tracing
logs       logs.jsonl                anything that reads JSON lines (jq, pandas)
=========  ========================  =====================================================

Write files with ``result.export(folder)``, or get the dicts with ``otlp_traces``,
``otlp_logs``, ``jaeger_traces``, ``chrome_trace`` and ``log_lines``. All take the same
subset options (``simlab.export.select``): ``trace_ids``, ``errors_only``, ``window``,
and ``epoch``, the calendar time of simulated time 0 (default 2026-01-01T00:00:00Z, so
the same seed gives the same bytes; not for ``chrome``, whose times count from 0).

Example:
    >>> result = sl.scenarios.shop(style="async", duration=10).run(seed=1)
    >>> paths = result.export("traces/", formats=("jaeger", "chrome"))
    >>> failed = sl.export.jaeger_traces(result, errors_only=True)   # a dict, no file
"""

import os
from pathlib import Path

import orjson

from ..errors import ModelError, ModelTypeError
from . import chrome, jaeger, logs, otlp
from .chrome import chrome_trace
from .jaeger import jaeger_traces
from .logs import log_lines
from .otlp import otlp_logs, otlp_traces
from ..telemetry import rare_collections
from .select import EPOCH, Selection

#: Each format and the files it writes, with the function that makes each file's content.
FORMATS = {
    "otlp": {"traces.otlp.json": otlp.traces_request, "logs.otlp.json": otlp.logs_request},
    "jaeger": {"traces.jaeger.json": jaeger.traces},
    "chrome": {"trace.chrome.json": chrome.trace},
    "logs": {"logs.jsonl": logs.records},
}


def _formats(formats):
    """``formats`` checked: names from ``FORMATS``, in the order given, once each."""
    if isinstance(formats, str):
        formats = [formats]
    try:
        formats = list(dict.fromkeys(formats))
    except TypeError:
        raise ModelTypeError(f"export: formats must be a list of format names from "
                             f"{list(FORMATS)}, got {formats!r}") from None
    for name in formats:
        if name not in FORMATS:
            raise ModelError(f"export: unknown format {name!r}; choose from {list(FORMATS)}")
    if not formats:
        raise ModelError(f"export: no format given; choose from {list(FORMATS)}")
    return formats


def export(result, folder, formats=tuple(FORMATS), trace_ids=None, errors_only=False,
           window=None, epoch=EPOCH):
    """Write the run's traces and logs into ``folder`` (made if missing), one file per
    format and kind, and return their paths (see the table above).

    Args:
        result: a ``Result``.
        folder: where to write.
        formats: any of ``"otlp"``, ``"jaeger"``, ``"chrome"``, ``"logs"`` (default: all).
        trace_ids: only these traces (hex strings as in ``result.spans.trace_id``).
        errors_only: only traces with a failed span.
        window: ``(t0, t1)``: only spans overlapping these simulated seconds.
        epoch: where simulated time 0 lands (an aware ``datetime`` or ISO 8601 string);
            the Chrome trace has no calendar time and ignores it.
    """
    formats = _formats(formats)  # every argument is checked before anything is written
    if not isinstance(folder, (str, os.PathLike)):
        raise ModelTypeError(f"export: folder must be a path such as 'traces/', got {folder!r}")
    selection = Selection(result, trace_ids=trace_ids, errors_only=errors_only, window=window,
                          epoch=epoch)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with rare_collections():
        for name in formats:
            for filename, make in FORMATS[name].items():
                content = make(selection)
                data = logs.text(content) if filename.endswith(".jsonl") \
                    else orjson.dumps(content)
                del content  # freed now, so the collector has nothing to look at after
                path = folder / filename
                path.write_bytes(data)
                paths.append(path)
        del selection
    return paths


__all__ = ["export", "otlp_traces", "otlp_logs", "jaeger_traces", "chrome_trace", "log_lines",
           "EPOCH", "FORMATS", "Selection"]
