"""Which records an export carries, and where simulated time lands on the calendar.

Every format starts here: ``select(result, ...)`` picks the spans (and their events,
the log lines and queue samples that go with them) and turns simulated seconds into the
timestamps tracing tools expect. Three filters, combined with "and":

* ``trace_ids``: only these traces (hex strings as in ``result.spans.trace_id``, or the
  integers they stand for);
* ``errors_only``: only traces with a failed span (status error, timeout or rejected; a
  span still in flight when the run stopped has not failed);
* ``window=(t0, t1)``: only spans that overlap the simulated seconds [t0, t1]. A span
  whose parent lies outside the window keeps its parent id, so a tool may show it as
  the first span of its trace.

Log lines follow their spans; a line written outside any trace (a fault beginning or
ending) is kept unless a trace filter is given, and the window applies to it too.

Simulated time starts at 0; an export places it on ``epoch`` (default ``EPOCH``,
2026-01-01T00:00:00Z), so the same run always exports the same bytes.
"""

import numbers
from datetime import datetime, timedelta, timezone
from functools import cached_property

import numpy as np

from .. import checks
from ..errors import ModelError, ModelTypeError
from ..semconv import FAILED

#: Where simulated time 0 lands when an export is not told otherwise.
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
_UNIX = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_nanos(epoch):
    """``epoch`` (an aware ``datetime`` or an ISO 8601 string) as Unix nanoseconds."""
    if isinstance(epoch, str):
        try:
            epoch = datetime.fromisoformat(epoch)
        except ValueError:
            raise ModelError(f"export: epoch {epoch!r} is not an ISO 8601 date and time; write "
                             "it like '2026-01-01T00:00:00Z'") from None
    if not isinstance(epoch, datetime):
        checks.refuse("export", "epoch", "a datetime or an ISO 8601 string such as "
                      "'2026-01-01T00:00:00Z'", epoch)
    if epoch.tzinfo is None:
        raise ModelError(f"export: epoch {epoch.isoformat()} has no time zone, so it could be "
                         "any instant; give one, e.g. datetime(2026, 1, 1, tzinfo=timezone.utc)")
    # Whole microseconds since 1970, counted exactly (a float timestamp would round).
    return (epoch - _UNIX) // timedelta(microseconds=1) * 1000


def _trace_id(value):
    """One trace id as the table writes it: 32 lowercase hex digits."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0:
        return f"{int(value):032x}"
    if isinstance(value, str) and value and len(value) <= 32:
        try:
            int(value, 16)
        except ValueError:
            pass
        else:
            return value.lower().rjust(32, "0")
    raise ModelTypeError(f"export: trace id {value!r} is not a trace id; give hex strings as in "
                         "result.spans.trace_id (or the positive integers they stand for)")


def _trace_ids(result, trace_ids):
    """The requested trace ids, checked against the run."""
    if isinstance(trace_ids, (str, numbers.Integral)):
        trace_ids = [trace_ids]  # one id on its own
    try:
        trace_ids = list(trace_ids)
    except TypeError:
        raise ModelTypeError(f"export: trace_ids must be a list of trace ids, got "
                             f"{trace_ids!r}") from None
    wanted = [_trace_id(value) for value in trace_ids]
    known = set(result.spans.trace_id)
    missing = [trace for trace in wanted if trace not in known]
    if missing:
        raise ModelError(f"export: trace {missing[0]} is not in this run (it has "
                         f"{len(known)} traces); pick ids from result.traces().trace_id")
    return wanted


def _window(window):
    """``(t0, t1)`` checked: simulated seconds with t0 <= t1."""
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        checks.refuse("export", "window", "a pair (t0, t1) of simulated seconds", window)
    t0 = checks.seconds("export", "window start t0", window[0])
    t1 = checks.seconds("export", "window end t1", window[1])
    if t1 < t0:
        raise ModelError(f"export: window ({t0:g}, {t1:g}) ends before it starts; give "
                         f"(t0, t1) with t0 <= t1, e.g. ({t1:g}, {t0:g})")
    return t0, t1


class Selection:
    """The records one export carries, with times as integers on the calendar.

    Attributes:
        spans: the chosen rows of ``result.spans``; a span still open when the run
            stopped ends at the end of the run here (its status stays ``in_flight``).
        events, logs, queues: the span events of those spans, the log lines and queue
            samples that go with them.
        epoch: Unix nanoseconds of simulated time 0.
    """

    def __init__(self, result, trace_ids=None, errors_only=False, window=None, epoch=EPOCH):
        self.result = result
        self.epoch = epoch_nanos(epoch)
        if not isinstance(errors_only, bool):
            checks.refuse("export", "errors_only", "True or False", errors_only)
        window = None if window is None else _window(window)
        spans, logs, queues = result.spans, result.logs, result.queues
        keep = np.ones(len(spans), dtype=bool)
        traced = trace_ids is not None or errors_only
        if trace_ids is not None:
            keep &= spans.trace_id.isin(_trace_ids(result, trace_ids)).to_numpy()
        if errors_only:
            failed = spans.trace_id[spans.status.isin(FAILED)]
            keep &= spans.trace_id.isin(failed).to_numpy()
        if window is not None:
            t0, t1 = window
            keep &= ((spans.start <= t1) & ~(spans.end < t0)).to_numpy()  # open spans: NaN end
            logs = logs[logs.time.between(t0, t1)]
            queues = queues[queues.time.between(t0, t1)]
        spans = spans[keep]
        self.spans = spans.assign(end=spans.end.fillna(result.end_time))
        chosen = set(self.spans.span_id)
        events = result.span_events
        self.events = events[events.span_id.isin(chosen)]
        # Log lines of the chosen spans; lines outside any trace unless traces were picked.
        self.logs = logs[logs.span_id.isin(chosen) | ((logs.trace_id == "") & (not traced))]
        self.queues = queues

    def nanos(self, times):
        """Simulated seconds (an array) as Unix nanoseconds (int64)."""
        return np.round(np.asarray(times, dtype=float) * 1e9).astype(np.int64) + self.epoch

    def micros(self, times):
        """Simulated seconds (an array) as whole Unix microseconds (int64), as Jaeger wants."""
        return self.nanos(times) // 1000

    @cached_property
    def attributes(self):
        """Each chosen span's attributes under semantic-convention names (a list of dicts),
        without ``service.name`` and ``service.version``: those belong to its resource."""
        found = self.result.span_attributes(self.spans).tolist()
        for attributes in found:
            del attributes["service.name"], attributes["service.version"]
        return found

    @cached_property
    def status_messages(self):
        """For each failed span, what went wrong: its last exception's message if it
        recorded one, else its status word ("timeout" ...); "" for the others."""
        exceptions = self.events[self.events.name == "exception"]
        said = dict(zip(exceptions.span_id, exceptions.detail))  # the last one stays
        return [said.get(span, status) if status in FAILED else ""
                for span, status in zip(self.spans.span_id, self.spans.status)]
