"""Every table a run records, defined once: its fields, their dtypes and their meaning.

A ``Table`` is one record type. The recorder (``simlab.telemetry``) keeps each table's
rows as columns, one per field, written by field name; ``Result`` turns them into
DataFrames with exactly these columns and dtypes, empty or full; ``simlab.schema`` and
the README's column tables are generated from here. Adding a table means: one
``Table`` below, and the place in the model that emits its rows.

Times are simulated seconds. Ids are integers while the run goes on and W3C-style hex
strings in the DataFrames (trace: 32 digits, span: 16); "" means "none" (a root span has
no parent; a fault's log line no trace).
"""

import math
from array import array
from dataclasses import dataclass

# A field's dtype says how it is kept during the run and what its column holds:
#   float / int / bool     compact arrays during the run; float64 / int64 / bool columns
#   trace_id / span_id     integers during the run; hex strings (32 / 16 digits) in the table
#   str / object           references (names are shared strings); object columns
_STORAGE = {"float": "d", "int": "q", "bool": "b", "trace_id": "q", "span_id": "q"}
PANDAS_DTYPE = {"float": "float64", "int": "int64", "bool": "bool", "trace_id": "object",
                "span_id": "object", "str": "object", "object": "object"}
HEX_WIDTH = {"trace_id": 32, "span_id": 16}


_DEFAULT = {"int": 0, "bool": False, "str": ""}  # of the dtypes a sparse field may have


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str
    doc: str
    derived: bool = False  # computed when the table is built, not recorded
    sparse: bool = False   # recorded only where it is not the default (0, False, "")
    internal: bool = False  # recorded to build the table, not one of its columns
    # Set after its row is written, on every request (a span's end): kept apart from the
    # row, and holding ``initial`` until set (see simlab.telemetry.Rows).
    later: bool = False
    initial: object = None  # for a later field: its value until set (None: NaN, 0, False, "")

    def __post_init__(self):
        if self.dtype not in PANDAS_DTYPE:
            raise ValueError(f"field {self.name}: unknown dtype {self.dtype!r}")
        if self.sparse and self.dtype not in _DEFAULT:
            raise ValueError(f"field {self.name}: only an int, bool or str field can be sparse")
        if self.later and self.sparse:
            raise ValueError(f"field {self.name}: a sparse field is set in place already; "
                             "it cannot be later too")

    @property
    def default(self):
        """The value a sparse field has where none was kept; a later field's until set."""
        if self.initial is not None:
            return self.initial
        return math.nan if self.dtype == "float" else _DEFAULT.get(self.dtype)

    def new_column(self):
        """An empty column for the recorder: a dict {row: value} for a sparse field,
        which most rows leave at its default, else an array or a list."""
        if self.sparse:
            return {}
        code = _STORAGE.get(self.dtype)
        return [] if code is None else array(code)


class Table:
    """One record type: a table's name, what one row is, and its fields in column order."""

    def __init__(self, name, row, *fields):
        self.name = name
        self.row = row
        self.fields = tuple(f for f in fields if not f.internal)  # the table's columns
        self.recorded = tuple(f for f in fields if not f.derived)

    def __iter__(self):
        return (field.name for field in self.fields)

    def field(self, name):
        return next(f for f in (*self.fields, *self.recorded) if f.name == name)

    def __getitem__(self, name):
        return self.field(name).doc

    def __len__(self):
        return len(self.fields)

    def __repr__(self):
        return f"Table({self.name!r}: {', '.join(self)})"


STATUS = "ok | error | timeout | rejected | in_flight"

REQUESTS = Table(
    "requests", "external request",
    Field("request_id", "int", "number of the external request, from 1, in order of arrival"),
    Field("trace_id", "trace_id", "the trace this request started"),
    Field("load", "str", "name of the load that sent it"),
    Field("service", "str", "entry service"),
    Field("endpoint", "str", "entry endpoint"),
    Field("start", "float", "arrival time at the entry service"),
    Field("end", "float", "when the client got its answer (NaN while in flight)", later=True),
    Field("latency", "float", "end - start (NaN while in flight)", derived=True),
    Field("outcome", "str", STATUS, later=True, initial="in_flight"),
    Field("reason", "str", "for a failure, where and why (e.g. 'payments.charge: payments "
          "is down')", sparse=True),
)

SPANS = Table(
    "spans", "span: a unit of work of one service within one trace",
    Field("trace_id", "trace_id", "the request (trace) this span belongs to"),
    Field("span_id", "span_id", "this span (its number, from 1, in hex)", derived=True),
    Field("parent_id", "span_id", "the span that caused it ('' for the root); a consumer span's "
      "parent is its producer span, so one business flow is one trace (unless a hop had "
      "propagate=False: then the work after it is the root of a new trace)"),
    Field("service", "str", "the service that did the work (for a client span: the caller)"),
    Field("operation", "str", "endpoint (server), 'callee.endpoint' (client), 'publish T' / "
      "'consume T'"),
    Field("kind", "str", "server | client | producer | consumer | internal"),
    Field("start", "float", "start time (a server span starts when the request reaches the "
          "service)"),
    Field("end", "float", "end time (NaN if still open when the run stopped)", later=True),
    Field("duration", "float", "end - start", derived=True),
    Field("status", "str", STATUS, later=True, initial="in_flight"),
    Field("wait", "float", "time spent waiting for a worker (server and consumer spans; else 0)",
          later=True, initial=0.0),
    Field("attempt", "int", "a client span's attempt number, from 1 (0 for other kinds)",
          sparse=True),
    Field("fallback", "bool", "a client span whose failure the caller's fallback answered",
          sparse=True),
    Field("version", "str", "the version of the service that did the work"),
    Field("broker", "str", "producer and consumer spans: the broker ('' otherwise)",
          sparse=True),
    Field("topic", "str", "producer and consumer spans: the topic ('' otherwise)",
          sparse=True),
    Field("group", "str", "consumer spans: the consumer group ('' otherwise)", sparse=True),
    Field("message_id", "int", "producer and consumer spans: the message (0 otherwise)",
          sparse=True),
    # The client span of a fast-path call is not recorded: it is made from its server
    # span when the table is built (see simlab.span_layout).
    Field("caller_version", "str", "a server span reached by a fast-path call: the version of "
          "the caller, which its client span names", sparse=True, internal=True),
    Field("answer_lost", "bool", "... whose answer a network fault lost on the way back: its "
          "client span never ended", sparse=True, internal=True),
)

SPAN_EVENTS = Table(
    "span_events", "thing that happened at an instant inside a span",
    Field("trace_id", "trace_id", "the span's trace"),
    Field("span_id", "span_id", "the span it happened in"),
    Field("time", "float", "when"),
    Field("name", "str", "queued | dequeued | retry | breaker_rejected | bulkhead_rejected | "
      "exception"),
    Field("detail", "str", "what to know: the retry number and delay, the exception's message"),
)

LOGS = Table(
    "logs", "log line",
    Field("time", "float", "when"),
    Field("trace_id", "trace_id", "trace of the request that wrote it ('' for system lines such "
      "as faults)"),
    Field("span_id", "span_id", "span that wrote it"),
    Field("service", "str", "service that wrote it"),
    Field("version", "str", "the version of the service that wrote it: its span's ('' for "
          "system lines)", derived=True),
    Field("level", "str", "info | warning | error: the severity text"),
    Field("severity_number", "int", "OpenTelemetry's severity scale: 9 info, 13 warning, 17 "
          "error", derived=True),
    Field("message", "str", "the text (the log record's body)"),
    Field("attributes", "object", "the keyword fields of ctx.log(...), as a dict"),
)

MESSAGES = Table(
    "messages", "event in the life of a message",
    Field("time", "float", "when"),
    Field("event", "str", "publish | deliver | ack | redeliver | dead_letter | replay"),
    Field("broker", "str", "broker name"),
    Field("topic", "str", "topic name"),
    Field("group", "str", "consumer group ('' for publish)"),
    Field("message_id", "int", "number of the message, from 1"),
    Field("key", "object", "the message's key (None if none)"),
    Field("partition", "int", "the partition its key picked (0 for a topic without partitions)"),
    Field("attempt", "int", "delivery attempt, from 1 (0 for publish)"),
    Field("trace_id", "trace_id", "trace the message belongs to"),
    Field("span_id", "span_id", "the producer span"),
    Field("traceparent", "str", "the W3C trace context the message carries, "
          "00-<trace_id>-<span_id>-01 ('' if published with propagate=False)", derived=True),
)

QUEUES = Table(
    "queues", "sample of the queue of a service or of a consumer group",
    Field("time", "float", "sample time"),
    Field("kind", "str", "service | group"),
    Field("service", "str", "for a service: its name ('' for a group)"),
    Field("broker", "str", "for a group: its broker ('' for a service)"),
    Field("topic", "str", "for a group: its topic ('' for a service)"),
    Field("group", "str", "for a group: its name ('' for a service)"),
    Field("queued", "float", "requests waiting for a worker, or messages waiting for a consumer"),
    Field("busy", "float", "workers busy, or messages being handled"),
)

LAG = Table(
    "lag", "sample of a consumer group's backlog in one partition",
    Field("time", "float", "sample time"),
    Field("broker", "str", "the group's broker"),
    Field("topic", "str", "the group's topic"),
    Field("group", "str", "the consumer group"),
    Field("partition", "int", "partition number (0 for a topic without partitions)"),
    Field("messages", "int", "messages published but not yet acked or dead-lettered in that "
      "partition"),
    Field("seconds", "float", "age of the oldest of them (0 when there are none)"),
)

FAULTS = Table(
    "faults", "injected fault",
    Field("fault", "str", "crash | slowdown | errors | partition | message_loss | broker_outage"),
    Field("target", "str", "what it hit"),
    Field("start", "float", "when it began"),
    Field("end", "float", "when it ended (NaN if it had not ended when the run stopped)"),
)

BREAKERS = Table(
    "breakers", "state change of a circuit breaker",
    Field("time", "float", "when the circuit breaker entered the state"),
    Field("caller", "str", "the calling service"),
    Field("target", "str", "the service it protects the caller from"),
    Field("state", "str", "closed | open | half_open"),
)

SAGAS = Table(
    "sagas", "saga",
    Field("saga_id", "int", "number of the saga, from 1"),
    Field("trace_id", "trace_id", "trace of the request that ran it"),
    Field("service", "str", "the orchestrator"),
    Field("start", "float", "when it began"),
    Field("end", "float", "when it completed, finished compensating, got stuck or was abandoned "
      "(NaN while pending)"),
    Field("outcome", "str", "completed | compensated | stuck | abandoned (its orchestrator crashed)"
      " | pending (still running when the run stopped)"),
    Field("failed_step", "str", "'service.endpoint' of the step that failed ('' if none)"),
    Field("steps_done", "int", "steps that succeeded before it completed or failed"),
    Field("first_done", "float", "when part of the transaction first became visible: its first "
      "step done, or a step that timed out (NaN if neither)"),
    Field("inconsistent_for", "float", "seconds from first_done to the end (to the end of the run "
      "if stuck, abandoned or pending): the window in which part of the transaction was "
      "visible (0 if nothing was)", derived=True),
)

WRITES = Table(
    "writes", "write to a service's store",
    Field("time", "float", "when the write happened"),
    Field("service", "str", "the service whose store was written"),
    Field("key", "object", "the key written"),
    Field("version", "int", "version stored: 1, 2, ... per key; in a read model, the source's "
      "version it applies"),
    Field("source", "str", "for a read model, the service it follows ('' for a service's own "
      "writes)"),
    Field("broker", "str", "the broker of the message being handled ('' outside a consumer)"),
    Field("topic", "str", "the topic of the message being handled ('' outside a consumer)"),
    Field("group", "str", "the consumer group whose handler wrote it ('' outside a consumer)"),
    Field("message_id", "int", "the message that handler was applying (0 outside a consumer)"),
    Field("trace_id", "trace_id", "trace of the request that wrote it"),
    Field("span_id", "span_id", "span that wrote it"),
)

READS = Table(
    "reads", "read of a service's store",
    Field("time", "float", "when the read happened"),
    Field("service", "str", "the service whose store was read"),
    Field("key", "object", "the key read"),
    Field("version", "int", "version returned (0: never written)"),
    Field("source_version", "int", "for a read model, the version its source held at that moment "
      "(else = version)"),
    Field("stale", "bool", "True if the source held a newer version than the one returned"),
    Field("versions_behind", "int", "source_version - version"),
    Field("seconds_behind", "float", "how long ago the source wrote the oldest version the read "
      "missed (0 if fresh)"),
    Field("trace_id", "trace_id", "trace of the request that read it"),
    Field("span_id", "span_id", "span that read it"),
)

CONSISTENCY = Table(
    "consistency", "write of a source and read model that follows it "
    "(made from the writes)",
    Field("source", "str", "the service whose store was written", derived=True),
    Field("key", "object", "the key", derived=True),
    Field("version", "int", "the version written", derived=True),
    Field("written", "float", "when the source wrote it", derived=True),
    Field("view", "str", "a read model that should reflect it", derived=True),
    Field("visible", "float", "when the view first held this version or a later one (NaN: "
      "pending)", derived=True),
    Field("lag", "float", "visible - written: the consistency lag (NaN while pending)",
      derived=True),
    Field("state", "str", "visible | pending", derived=True),
    Field("trace_id", "trace_id", "trace of the request that wrote the source", derived=True),
)

CHANGES = Table(
    "changes", "change committed to a delivery pipeline (simlab.delivery)",
    Field("change_id", "int", "number of the change, from 1, in order of commit"),
    Field("service", "str", "the service the change is for (its pipeline's)"),
    Field("commit", "float", "when it was committed"),
    Field("unplanned", "bool", "a hotfix, made to end an incident (not the team's planned work)"),
    Field("resubmits", "int", "the change whose rolled-back defect this one fixes (0: a new "
          "change)"),
    Field("defective", "bool", "True if it carries a defect"),
    Field("defect", "str", "errors | slow | broken: what the defect does once live ('' if none)"),
    Field("caught", "str", "the stage that caught its defect ('' if none did)"),
    Field("batch", "int", "the last batch it joined (0: never batched)"),
    Field("attempt", "int", "1, then 2, 3... each time it went back into the pipeline after a "
          "rollback it had no defect in"),
    Field("version", "str", "the version that took it to production ('' if none)"),
    Field("outcome", "str", "live | caught | rolled_back (its version was rolled back and it "
          "goes no further: it carried a defect, whose fix follows as a new change; or it was "
          "a hotfix, or out of attempts) | waiting (passed, waiting for a batch) | in_pipeline "
          "(still in a stage when the run stopped)"),
    Field("left", "float", "when it left the pipeline: went live, was caught or rolled back "
          "(NaN while in the pipeline)"),
    Field("live", "float", "when it started running in production (NaN if never)"),
    Field("lead_time", "float", "live - commit: the change lead time (NaN if never live)",
          derived=True),
)

PIPELINE_RUNS = Table(
    "pipeline_runs", "attempt of one stage of a delivery pipeline, for a change or a batch",
    Field("service", "str", "the pipeline's service"),
    Field("stage", "str", "build | unit | integration | staging | performance | production "
          "(or a stage of your own)"),
    Field("change_id", "int", "the change, for a stage run per change (0 for a batch stage)"),
    Field("batch", "int", "the batch, for a stage run per batch (0 for a change stage)"),
    Field("attempt", "int", "1 for the first run, 2 for the first automatic re-run..."),
    Field("requested", "float", "when it asked for a runner (or, for production, to deploy)"),
    Field("wait", "float", "time spent waiting for a free runner (production: for the deploy "
          "before it to end)"),
    Field("start", "float", "when it began running"),
    Field("end", "float", "when it ended"),
    Field("result", "str", "pass | fail (it caught a defect; production: rolled back) | "
          "flaky (a spurious failure)"),
    Field("caught", "str", "the defects it caught, as 'change:kind' separated by spaces ('' if "
          "none)"),
    Field("version", "str", "production: the version it deployed ('' for other stages)"),
)

DEPLOYMENTS = Table(
    "deployments", "deployment of a version of a service (a rollback after it was done is one "
    "too, unplanned)",
    Field("deployment_id", "int", "number of the deployment, from 1, in order of start"),
    Field("service", "str", "the service deployed"),
    Field("version", "str", "the version deployed"),
    Field("previous", "str", "the version it replaces (the one a rollback goes back to)"),
    Field("strategy", "str", "recreate | rolling | blue_green | canary | rollback"),
    Field("start", "float", "when it began"),
    Field("end", "float", "when it ended: promoted, or rolled back (NaN while in progress)"),
    Field("outcome", "str", "succeeded | rolled_back | in_progress"),
    Field("unplanned", "bool", "a remediation (rollback or hotfix), not a planned change"),
    Field("changes", "int", "how many changes it ships (0 for a rollback)"),
)

INCIDENTS = Table(
    "incidents", "incident: a bad version (or an unhealthy service) detected in production",
    Field("incident_id", "int", "number of the incident, from 1"),
    Field("service", "str", "the service"),
    Field("version", "str", "the version serving (the new one, during a deployment) when it "
          "was detected"),
    Field("opened", "float", "when it was detected"),
    Field("detected_by", "str", "alert (a burn-rate alert fired) | canary (the canary analysis "
          "failed)"),
    Field("resolved", "float", "when the remediation was done (NaN if not by the end of the run)"),
    Field("remediation", "str", "rollback | hotfix | '' (no deployment to undo: resolved when "
          "the alert clears)"),
)

TRAFFIC = Table(
    "traffic", "change of the share of a service's traffic that a version gets",
    Field("time", "float", "when the weight changed"),
    Field("service", "str", "the service"),
    Field("version", "str", "the version"),
    Field("weight", "float", "its share of new requests from then on, 0 to 1"),
)

CANARY_CHECKS = Table(
    "canary_checks", "analysis of a canary at the end of one hold",
    Field("time", "float", "when the check ran"),
    Field("service", "str", "the service"),
    Field("version", "str", "the canary version"),
    Field("weight", "float", "the canary's traffic weight during the hold"),
    Field("requests", "int", "requests the canary finished in the hold (its server spans)"),
    Field("error_rate", "float", "share of them that failed (NaN if none)"),
    Field("p99", "float", "99th percentile of the duration of the successful ones (NaN if "
          "none)"),
    Field("verdict", "str", "pass | fail | inconclusive (fewer than min_requests; counted as "
          "the canary's `inconclusive` says)"),
)

TABLES = {table.name: table for table in (
    REQUESTS, SPANS, SPAN_EVENTS, LOGS, MESSAGES, QUEUES, LAG, FAULTS, BREAKERS, SAGAS,
    WRITES, READS, CONSISTENCY, CHANGES, PIPELINE_RUNS, DEPLOYMENTS, INCIDENTS, TRAFFIC,
    CANARY_CHECKS)}
RECORDED = tuple(table for table in TABLES.values() if table.recorded)

OUTCOMES = ("ok", "error", "timeout", "rejected", "in_flight")

SEVERITY_NUMBER = {"debug": 5, "info": 9, "warning": 13, "error": 17}
"""OpenTelemetry's severity numbers (1-24) for simlab's log levels."""


def markdown(table):
    """The table's columns as a Markdown table."""
    lines = [f"**`result.{table.name}`**: one row per {table.row}.", "",
             "| column | dtype | meaning |", "|---|---|---|"]
    for field in table.fields:
        dtype = "str (hex)" if field.dtype in HEX_WIDTH else PANDAS_DTYPE[field.dtype]
        if field.dtype == "str":
            dtype = "str"
        meaning = field.doc.replace(" | ", " / ")  # a bar would end the Markdown cell
        lines.append(f"| `{field.name}` | {dtype} | {meaning} |")
    return "\n".join(lines)


BEGIN = ("<!-- the tables below are made by simlab/records.py: python -c \"import "
         "simlab.records as r; r.update_readme('README.md')\" -->")
END = "<!-- end of the tables -->"


def readme_tables():
    """The README's section on the tables, between its two markers."""
    return "\n\n".join([BEGIN, *(markdown(table) for table in TABLES.values()), END])


def update_readme(path):
    """Rewrite the tables of the README at ``path``; True if they changed."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no markers {BEGIN} ... {END}")
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    new = before + readme_tables() + after
    with open(path, "w", encoding="utf-8") as file:
        file.write(new)
    return new != text

