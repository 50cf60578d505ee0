"""Results: a run's records as tidy pandas DataFrames, and summaries of them.

Every table has the fixed columns, with their dtypes, defined in ``simlab.records``
(``sl.schema.SPANS`` lists them with their meaning), even when it is empty. DataFrames
are built once, the first time you ask for them.
"""

from functools import cached_property

import numpy as np
import pandas as pd

from . import delivery, metrics, records, semconv
from .records import HEX_WIDTH, PANDAS_DTYPE, SEVERITY_NUMBER
from .span_layout import SpanLayout


_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
_SHIFTS = np.arange(60, -4, -4, dtype=np.int64)  # the 16 hex digits of an int64, high first


def _hex(ids, width):
    """Integer ids as hex strings of ``width`` digits ("" for 0, no id), vectorized: one
    ``format()`` per id was most of the time it took to build the spans table."""
    ids = np.asarray(ids, dtype=np.int64)
    text = np.empty(len(ids), dtype=object)
    for begin in range(0, len(ids), 1 << 18):  # in chunks: the digits take 16 bytes an id
        part = ids[begin:begin + (1 << 18)]
        digits = np.full((len(part), width), ord("0"), dtype=np.uint8)
        digits[:, width - 16:] = _DIGITS[(part[:, None] >> _SHIFTS) & 0xF]
        text[begin:begin + len(part)] = digits.view(f"S{width}").ravel().astype(f"U{width}")
    text[ids == 0] = ""
    return text


class _IdText:
    """The hex text of trace and span ids, each id's string made once per Result and shared
    by every row and every table that holds it: a string per row costs 70-80 bytes, and
    a trace's id sits on all its spans, span events and log lines.

    A span is recorded by its handle, and known in the tables by its id: ``layout`` (a
    ``simlab.span_layout.SpanLayout``, made when first needed) maps one to the other."""

    def __init__(self, layout=None):
        self.text = {"trace_id": _hex([], 32), "span_id": _hex([], 16)}
        self.layout = layout  # a function that makes it

    def __call__(self, dtype, ids, handles=True):
        """The text of ``ids``; span ids given as ``handles`` (recorded) are mapped to
        their ids in the tables first."""
        ids = np.asarray(ids, dtype=np.int64)
        if dtype == "span_id" and handles and self.layout is not None:
            ids = self.layout().ids[ids]
        text = self.text[dtype]
        if len(ids) and ids.max() >= len(text):  # ids are counters: format 0..max once
            text = self.text[dtype] = _hex(np.arange(ids.max() + 1), HEX_WIDTH[dtype])
        return text[ids]


def _column(field, values, length):
    """A recorded column as the values of its DataFrame column (``length`` rows); ids
    still integers."""
    if field.sparse:
        full = np.full(length, field.default, dtype=PANDAS_DTYPE[field.dtype])
        if values:
            full[np.fromiter(values.keys(), np.int64, len(values))] = list(values.values())
        return full
    if field.dtype in HEX_WIDTH:
        return np.frombuffer(values, dtype=np.int64)
    if field.dtype in ("str", "object"):
        return values  # a list: pandas keeps tuples (a composite key) as they are
    numbers = np.frombuffer(values, dtype=np.dtype(values.typecode))
    return numbers.astype(PANDAS_DTYPE[field.dtype])  # a copy: the Result owns it


def _frame(table, rows=None, ids=None, layout=None, **derived):
    """The DataFrame of ``table`` (a ``simlab.records.Table``) from its recorded ``rows``:
    every column in order, with its dtype, even when there are no rows. ``derived``
    gives the columns computed from the others, as functions of the recorded columns;
    ``ids`` formats trace and span ids (a ``_IdText``); ``layout`` (the spans table's)
    places the rows and the spans made from them (``SpanLayout``)."""
    ids = ids or _IdText()
    data = {}
    for field in table.fields:
        if field.derived:
            data[field.name] = derived[field.name](data) if rows is not None else \
                np.empty(0, PANDAS_DTYPE[field.dtype])
            continue
        values = rows.column(field.name) if rows is not None else field.new_column()
        values = _column(field, values, len(rows) if rows is not None else 0)
        if layout is not None:
            values = layout.place(field.name, values, np.dtype(PANDAS_DTYPE[field.dtype])
                                  if field.dtype not in HEX_WIDTH else np.int64)
        if field.dtype in HEX_WIDTH:
            values = ids(field.dtype, values, handles=layout is None)
        data[field.name] = values
    frame = pd.DataFrame(data, columns=list(table))
    mismatched = {f.name: PANDAS_DTYPE[f.dtype] for f in table.fields
                  if frame[f.name].dtype != PANDAS_DTYPE[f.dtype]}
    return frame.astype(mismatched) if mismatched else frame


def _first_time_reflected(source_writes, view_writes):
    """For each source write (key, version): the first time the view held that version or
    a later one. Versions may reach a view out of order, hence the running maximum."""
    if view_writes.empty or source_writes.empty:
        return np.full(len(source_writes), np.nan)
    view = view_writes[["key", "version", "time"]].copy()  # already in time order
    view["reached"] = view.groupby("key", sort=False).version.cummax()
    view = view.sort_values("reached", kind="stable")
    left = source_writes[["key", "version"]].reset_index().sort_values("version", kind="stable")
    matched = pd.merge_asof(left, view[["key", "reached", "time"]], left_on="version",
                            right_on="reached", by="key", direction="forward")
    return matched.set_index("index").time.reindex(source_writes.index).to_numpy()


#: The names ``Result.summary()`` reports, which ``compare`` can take as metrics.
SUMMARY = ("requests", "ok", "error", "timeout", "rejected", "in_flight", "throughput",
            "error_rate", "latency_mean", "latency_p50", "latency_p95", "latency_p99",
            "completion_p50", "completion_p99", "lag_p50", "lag_p99", "pending_writes",
            "stale_reads", "stale_read_rate", "messages", "dead_lettered")


class Result:
    """What one run produced.

    Tables (columns in ``simlab.schema``): ``requests``, ``spans``, ``span_events``,
    ``logs``, ``messages``,
    ``queues``, ``lag``, ``faults``, ``breakers``, ``sagas``, ``writes``, ``reads``,
    ``consistency``, ``changes``, ``pipeline_runs``, ``deployments``, ``incidents``,
    ``traffic``, ``canary_checks``. Summaries: ``summary()``, ``traces()``,
    ``message_ledger()``, ``delivery_report()``, ``slowest_trace()``, ``dora()``.
    """

    def __init__(self, world, run, seed, wall_seconds):
        self.world = world
        self.seed = seed
        self.time_unit = world.time_unit  # what a unit of simulated time stands for
        self.end_time = run.env.now
        self.wall_seconds = wall_seconds
        # The time the loads were sending: from the first start to the last end.
        self.duration = world.load_end - min((load.start for load in world.loads), default=0.0)
        self._records = run.recorder
        self._ids = _IdText(lambda: self._span_layout)
        # The static shape of the model, for topology plots and ledgers.
        self.services = list(world.services)
        self.subscriptions = {(b.name, t.name): list(t.groups) for b in world.brokers.values()
                              for t in b.topics.values()}
        self.views = {s.name: s.view_of for s in world.services.values() if s.view_of}
        self.bursts = [(load.start, load.end, load.name) for load in world.loads
                       if type(load.arrivals).__name__ == "Burst"]

    def __repr__(self):
        return (f"<Result seed={self.seed} requests={len(self._records.requests)} "
                f"spans={self._records.span_count()} end={self.end_time:.3f}s>")

    def _table(self, name, **derived):
        return _frame(records.TABLES[name], self._records.tables[name], self._ids, **derived)

    @cached_property
    def requests(self):
        return self._table("requests", latency=lambda c: c["end"] - c["start"])

    @cached_property
    def _span_layout(self):
        return SpanLayout(self._records.spans)

    @cached_property
    def spans(self):
        layout = self._span_layout
        return _frame(records.SPANS, self._records.spans, self._ids, layout,
                      duration=lambda c: c["end"] - c["start"],
                      span_id=lambda c: self._ids("span_id", np.arange(1, layout.length + 1),
                                                  handles=False))

    @cached_property
    def span_events(self):
        """Events inside spans: waits for a worker, retries, rejections, exceptions."""
        recorded = self._table("span_events")
        spans = self.spans
        waited = spans[spans.wait > 0]
        # The wait of a span is its first two events: "queued" when it reached the
        # service (its start), "dequeued" when a worker took it.
        waits = [pd.DataFrame({"trace_id": waited.trace_id, "span_id": waited.span_id,
                               "time": time, "name": name, "detail": ""})
                 for name, time in (("queued", waited.start),
                                    ("dequeued", waited.start + waited.wait))]
        events = pd.concat([recorded, *waits], ignore_index=True)
        return events.sort_values("time", kind="stable", ignore_index=True)

    def span_attributes(self, spans=None):
        """The attributes of ``spans`` (default: all) under OpenTelemetry's semantic
        convention names (``rpc.method``, ``messaging.destination.name``, ``error.type``
        ...), one dict per span; see ``simlab.semconv``."""
        return semconv.span_attributes(self.spans if spans is None else spans)

    def span_links(self):
        """Each consumer span's link to the producer span of its message."""
        return semconv.span_links(self.spans)

    @cached_property
    def logs(self):
        return self._table("logs", severity_number=lambda c: np.array(
            [SEVERITY_NUMBER[level] for level in c["level"]], dtype=np.int64),
            version=lambda c: self._log_versions())

    def _log_versions(self):
        """Each log line's version: the version on its span ("" for a system line)."""
        spans = np.frombuffer(self._records.logs.columns["span_id"], dtype=np.int64)
        versions = np.array([""] + list(self._records.spans.columns["version"]), dtype=object)
        return versions[spans]

    @cached_property
    def messages(self):
        def traceparent(c):  # the header as the consumer receives it (sampled: all recorded)
            trace, span = c["trace_id"], c["span_id"]
            return np.where(trace == "", "", "00-" + trace + "-" + span + "-01").astype(object)

        return self._table("messages", traceparent=traceparent)

    @cached_property
    def queues(self):
        """Queue lengths of services and consumer groups, sampled every ``sample_every``."""
        return self._table("queues")

    @cached_property
    def lag(self):
        """Consumer lag per group and partition over time, in messages and in seconds."""
        return self._table("lag")

    @cached_property
    def breakers(self):
        """Every state change of every circuit breaker."""
        return self._table("breakers")

    @cached_property
    def sagas(self):
        """One row per saga: its outcome and its window of inconsistency."""
        def inconsistent_for(c):
            # A pending, stuck or abandoned saga stays inconsistent until the end of the run.
            settled = np.isin(np.asarray(c["outcome"], dtype=object), ["completed", "compensated"])
            until = np.where(settled, c["end"], self.end_time)
            return np.nan_to_num(until - c["first_done"], nan=0.0)

        return self._table("sagas", inconsistent_for=inconsistent_for)

    @cached_property
    def faults(self):
        return self._table("faults")

    @cached_property
    def deployments(self):
        """One row per deployment: its strategy, when it began and ended, its outcome."""
        return self._table("deployments")

    @cached_property
    def incidents(self):
        """One row per incident: what detected it, when, and how it was remediated."""
        return self._table("incidents")

    @cached_property
    def traffic(self):
        """Each change of the traffic weight of a version (a canary's steps, say)."""
        return self._table("traffic")

    @cached_property
    def canary_checks(self):
        """Each canary analysis: requests, error rate, p99 and the verdict."""
        return self._table("canary_checks")

    @cached_property
    def writes(self):
        return self._table("writes")

    @cached_property
    def reads(self):
        return self._table("reads")

    @cached_property
    def consistency(self):
        """One row per source write and read model that should reflect it: the lag."""
        writes = self.writes
        parts = []
        for view, source in self.views.items():
            rows = writes[writes.service == source][["service", "key", "version", "time",
                                                     "trace_id"]]
            rows = rows.rename(columns={"service": "source", "time": "written"})
            rows.insert(4, "view", view)
            rows.insert(5, "visible", _first_time_reflected(rows, writes[writes.service == view]))
            parts.append(rows)
        columns = list(records.CONSISTENCY)
        if not parts:
            return _frame(records.CONSISTENCY)
        frame = pd.concat(parts, ignore_index=True)
        frame["lag"] = frame.visible - frame.written
        frame["state"] = np.where(frame.visible.isna(), "pending", "visible")
        return frame[columns]

    @cached_property
    def changes(self):
        """One row per change committed to a delivery pipeline (``simlab.delivery``)."""
        return self._table("changes", lead_time=lambda c: c["live"] - c["commit"])

    @cached_property
    def pipeline_runs(self):
        """One row per run of a pipeline stage, re-runs included."""
        return self._table("pipeline_runs")

    def dora(self, window=None):
        """The DORA metrics of the run's delivery; see ``simlab.delivery.dora``."""
        return delivery.dora_metrics(self, window)

    def export(self, folder, formats=("otlp", "jaeger", "chrome", "logs"), trace_ids=None,
               errors_only=False, window=None, epoch=None):
        """Write the run's traces and logs into ``folder`` in formats tracing tools open
        (OTLP/JSON, Jaeger UI JSON, Chrome/Perfetto trace, JSON lines) and return the
        paths. ``trace_ids``, ``errors_only`` and ``window=(t0, t1)`` pick a subset;
        ``epoch`` is the date and time of simulated time 0 (default 2026-01-01T00:00Z).
        See ``simlab.export``."""
        from . import export

        return export.export(self, folder, formats, trace_ids=trace_ids,
                             errors_only=errors_only, window=window,
                             epoch=export.EPOCH if epoch is None else epoch)

    # -- summaries

    def traces(self):
        """One row per trace: when it began, when its last span ended, how many spans.

        For an asynchronous design the trace outlives the request: ``completion`` is
        when the *last* consumer finished, the moment the order was really done.
        """
        spans = self.spans
        grouped = spans.groupby("trace_id", sort=False)
        frame = pd.DataFrame({
            "start": grouped["start"].min(),
            "end": grouped["end"].max(),
            "spans": grouped.size(),
            "errors": (spans.status != "ok").groupby(spans.trace_id, sort=False).sum(),
        })
        frame["completion"] = frame["end"] - frame["start"]
        return frame.reset_index()

    def slowest_trace(self):
        """The trace id of the slowest successful request."""
        ok = self.requests[self.requests.outcome == "ok"]
        if ok.empty:
            raise ValueError("no request succeeded in this run, so there is no slowest trace")
        return ok.loc[ok.latency.idxmax(), "trace_id"]

    def message_ledger(self):
        """Per published message and consumer group: acked, dead_lettered or pending."""
        columns = ["broker", "topic", "group", "message_id", "state", "attempts"]
        msgs = self.messages
        published = msgs[msgs.event == "publish"]
        rows = []
        for (broker, topic), groups in self.subscriptions.items():
            ids = published.message_id[(published.broker == broker) & (published.topic == topic)]
            for group in groups:
                rows.extend((broker, topic, group, int(i)) for i in ids)
        ledger = pd.DataFrame(rows, columns=columns[:4])
        # The last settling event decides; a replay puts a dead letter back in play.
        final = msgs[msgs.event.isin(["ack", "dead_letter", "replay"])]
        final = final.drop_duplicates(columns[:4], keep="last")
        final = final.rename(columns={"event": "state", "attempt": "attempts"})[columns]
        ledger = ledger.merge(final, how="left", on=columns[:4], validate="one_to_one")
        ledger["state"] = ledger["state"].fillna("pending").replace(
            {"ack": "acked", "dead_letter": "dead_lettered", "replay": "pending"})
        return ledger[columns]

    def delivery_report(self):
        """Per consumer group: how its messages ended, and how many were lost or
        duplicated (the rules are in ``simlab.metrics.message_fates``)."""
        return metrics.delivery_report(self)

    def summary(self):
        """Headline numbers as a pandas Series: counts, throughput, error rate, latency.

        Latency percentiles are over successful requests, in seconds; ``completion_*``
        are over their whole traces (including asynchronous consumers).
        """
        requests = self.requests
        counts = requests.outcome.value_counts()
        total = len(requests)
        ok = requests[requests.outcome == "ok"]
        row = {"requests": total}
        for outcome in records.OUTCOMES:
            row[outcome] = int(counts.get(outcome, 0))
        row["throughput"] = row["ok"] / self.duration if self.duration else np.nan
        finished = total - row["in_flight"]
        row["error_rate"] = (finished - row["ok"]) / finished if finished else np.nan
        row["latency_mean"] = ok.latency.mean()
        for q in (50, 95, 99):
            row[f"latency_p{q}"] = ok.latency.quantile(q / 100) if len(ok) else np.nan
        completion = self.traces().set_index("trace_id").completion.reindex(ok.trace_id)
        for q in (50, 99):
            row[f"completion_p{q}"] = completion.quantile(q / 100) if len(ok) else np.nan
        consistency = self.consistency
        lag = consistency.lag.dropna()
        for q in (50, 99):
            row[f"lag_p{q}"] = lag.quantile(q / 100) if len(lag) else np.nan
        row["pending_writes"] = int((consistency.state == "pending").sum())
        reads = self.reads
        row["stale_reads"] = int(reads.stale.sum()) if len(reads) else 0
        row["stale_read_rate"] = reads.stale.mean() if len(reads) else np.nan
        row["messages"] = int((self.messages.event == "publish").sum())
        row["dead_lettered"] = int((self.messages.event == "dead_letter").sum())
        return pd.Series(row, name=f"seed {self.seed}")
