"""Telemetry: the one writer of records.

Everything a run observes goes through a ``Recorder``: requests, spans, log lines,
message events, queue samples and faults. Records are plain lists appended during the
run (cheap) and turned into pandas DataFrames once, at the end, by ``results``.

Trace context is W3C-style: a trace id of 32 hex digits shared by every span of one
request, and a span id of 16 hex digits per span. Ids are counters, not random numbers,
so they cost no random draw and the same seed gives the same ids. They are stored as
integers during the run and formatted as hex when the DataFrames are built.
"""

# Positions in a span record, named because spans are patched when they end.
SPAN_END = 7
SPAN_STATUS = 8
SPAN_WAIT = 9


class Recorder:
    """Collects the raw records of one run."""

    def __init__(self, env):
        self.env = env
        self.requests = []  # [request_id, trace, load, service, endpoint, start, end, outcome,
                            #  reason]
        self.spans = []     # [trace, span, parent, service, operation, kind, start, end, status, wait]
        self.logs = []      # (time, trace, span, service, level, message)
        self.messages = []  # (time, event, (broker, topic, group), message, attempt)
        self.samples = []   # (time, kind, name, queued, busy)
        self.faults = []    # [fault, target, start, end]
        self.lags = []      # (time, group, partition, messages, seconds)
        self.breakers = []  # (time, caller, target, state)
        self.sagas = []     # [saga_id, trace, service, start, end, outcome, failed_step,
                            #  steps_done, inconsistent_from]
        self.writes = []    # (time, service, key, version, source, group, message_id, trace, span)
        self.reads = []     # (time, service, key, version, source_version, stale, versions_behind,
                            #  seconds_behind, trace, span)
        self._traces = 0
        self._spans = 0

    def tables(self):
        """Every list of records, one per table."""
        return (self.requests, self.spans, self.logs, self.messages, self.samples,
                self.faults, self.lags, self.breakers, self.sagas, self.writes, self.reads)

    def count(self):
        """How many records are kept, in all tables."""
        return sum(len(table) for table in self.tables())

    def drop(self):
        """Let go of every record (a run stopped by an error has no Result to keep them)."""
        for table in self.tables():
            table.clear()

    def new_trace(self):
        self._traces += 1
        return self._traces

    def open_span(self, trace, parent, service, operation, kind, start):
        """Start a span; the caller closes it with ``close_span``."""
        self._spans += 1
        span = [trace, self._spans, parent, service, operation, kind, start, None, None, 0.0]
        self.spans.append(span)
        return span

    def close_span(self, span, status, client_span=None):
        """End a span now; ``client_span`` (the caller's side of the same call) too."""
        now = self.env.now
        span[SPAN_END] = now
        span[SPAN_STATUS] = status
        if client_span is not None:
            client_span[SPAN_END] = now
            client_span[SPAN_STATUS] = status

    def instant_span(self, trace, parent, service, operation, kind, status="ok"):
        """A span that starts and ends now (a fire-and-forget publish)."""
        self._spans += 1
        now = self.env.now
        span = [trace, self._spans, parent, service, operation, kind, now, now, status, 0.0]
        self.spans.append(span)
        return span

    def log(self, trace, span, service, level, message):
        self.logs.append((self.env.now, trace, span, service, level, message))

    def message(self, event, names, message, attempt):
        """A message event; ``names`` is ``(broker, topic, group)``. The Message itself
        is kept, and its fields are spread into columns when the table is built."""
        self.messages.append((self.env.now, event, names, message, attempt))
