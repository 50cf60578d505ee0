"""The columns of every DataFrame in a ``Result``: fixed, documented, present even when empty.

Times are simulated seconds. Ids are W3C-style hex strings (trace: 32 digits, span: 16);
an empty string means "none" (a root span has no parent; a fault's log line no trace).
"""

REQUESTS = {
    "request_id": "number of the external request, from 1, in order of arrival",
    "trace_id": "the trace this request started",
    "load": "name of the load that sent it",
    "service": "entry service",
    "endpoint": "entry endpoint",
    "start": "arrival time at the entry service",
    "end": "when the client got its answer (NaN while in flight)",
    "latency": "end - start (NaN while in flight)",
    "outcome": "ok | error | timeout | rejected | in_flight",
    "reason": "for a failure, where and why (e.g. 'payments.charge: payments is down')",
}

SPANS = {
    "trace_id": "the request (trace) this span belongs to",
    "span_id": "this span",
    "parent_id": "the span that caused it ('' for the root)",
    "service": "the service that did the work (for a client span: the caller)",
    "operation": "endpoint (server), 'callee.endpoint' (client), 'publish T' / 'consume T'",
    "kind": "server | client | producer | consumer",
    "start": "start time (a server span starts when the request reaches the service)",
    "end": "end time (NaN if still open when the run stopped)",
    "duration": "end - start",
    "status": "ok | error | timeout | rejected | in_flight",
    "wait": "time spent waiting for a worker (server and consumer spans; else 0)",
}

LOGS = {
    "time": "when",
    "trace_id": "trace of the request that wrote it ('' for system lines such as faults)",
    "span_id": "span that wrote it",
    "service": "service that wrote it",
    "level": "info | warning | error",
    "message": "the text",
}

MESSAGES = {
    "time": "when",
    "event": "publish | deliver | ack | redeliver | dead_letter | replay",
    "broker": "broker name",
    "topic": "topic name",
    "group": "consumer group ('' for publish)",
    "message_id": "number of the message, from 1",
    "key": "the message's key (None if none)",
    "partition": "the partition its key picked (0 for a topic without partitions)",
    "attempt": "delivery attempt, from 1 (0 for publish)",
    "trace_id": "trace the message belongs to",
    "span_id": "the producer span",
}

QUEUES = {
    "time": "sample time",
    "kind": "service | group",
    "name": "service name, or 'topic/group' for a consumer group",
    "queued": "requests waiting for a worker, or messages waiting for a consumer",
    "busy": "workers busy, or messages being handled",
}

LAG = {
    "time": "sample time",
    "group": "'topic/group'",
    "partition": "partition number (0 for a topic without partitions)",
    "messages": "messages published but not yet acked or dead-lettered in that partition",
    "seconds": "age of the oldest of them (0 when there are none)",
}

BREAKERS = {
    "time": "when the circuit breaker entered the state",
    "caller": "the calling service",
    "target": "the service it protects the caller from",
    "state": "closed | open | half_open",
}

SAGAS = {
    "saga_id": "number of the saga, from 1",
    "trace_id": "trace of the request that ran it",
    "service": "the orchestrator",
    "start": "when it began",
    "end": "when it completed, finished compensating, got stuck or was abandoned (NaN while "
           "pending)",
    "outcome": "completed | compensated | stuck | abandoned (its orchestrator crashed) | "
               "pending (still running when the run stopped)",
    "failed_step": "'service.endpoint' of the step that failed ('' if none)",
    "steps_done": "steps that succeeded before it completed or failed",
    "inconsistent_for": "seconds from the first step done to the end (to the end of the "
                        "run if stuck, abandoned or pending): the window in which part of "
                        "the transaction was visible (0 if no step was done)",
}

FAULTS = {
    "fault": "crash | slowdown | errors | partition | message_loss | broker_outage",
    "target": "what it hit",
    "start": "when it began",
    "end": "when it ended (NaN if it had not ended when the run stopped)",
}

WRITES = {
    "time": "when the write happened",
    "service": "the service whose store was written",
    "key": "the key written",
    "version": "version stored: 1, 2, ... per key; in a read model, the source's version it applies",
    "source": "for a read model, the service it follows ('' for a service's own writes)",
    "group": "the consumer group whose handler wrote it ('' outside a consumer)",
    "message_id": "the message that handler was applying (0 outside a consumer)",
    "trace_id": "trace of the request that wrote it",
    "span_id": "span that wrote it",
}

READS = {
    "time": "when the read happened",
    "service": "the service whose store was read",
    "key": "the key read",
    "version": "version returned (0: never written)",
    "source_version": "for a read model, the version its source held at that moment (else = version)",
    "stale": "True if the source held a newer version than the one returned",
    "versions_behind": "source_version - version",
    "seconds_behind": "how long ago the source wrote the oldest version the read missed (0 if fresh)",
    "trace_id": "trace of the request that read it",
    "span_id": "span that read it",
}

CONSISTENCY = {
    "source": "the service whose store was written",
    "key": "the key",
    "version": "the version written",
    "written": "when the source wrote it",
    "view": "a read model that should reflect it",
    "visible": "when the view first held this version or a later one (NaN: pending)",
    "lag": "visible - written: the consistency lag (NaN while pending)",
    "state": "visible | pending",
    "trace_id": "trace of the request that wrote the source",
}

TABLES = {"requests": REQUESTS, "spans": SPANS, "logs": LOGS, "messages": MESSAGES,
          "queues": QUEUES, "lag": LAG, "faults": FAULTS, "breakers": BREAKERS, "sagas": SAGAS, "writes": WRITES, "reads": READS,
          "consistency": CONSISTENCY}

OUTCOMES = ("ok", "error", "timeout", "rejected", "in_flight")
