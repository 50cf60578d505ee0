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
    "event": "publish | deliver | ack | redeliver | dead_letter",
    "broker": "broker name",
    "topic": "topic name",
    "group": "consumer group ('' for publish)",
    "message_id": "number of the message, from 1",
    "key": "the key given at publish (None if none)",
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

FAULTS = {
    "fault": "kind of fault (crash)",
    "target": "what it hit",
    "start": "when it began",
    "end": "when it ended (NaN if it had not ended when the run stopped)",
}

TABLES = {"requests": REQUESTS, "spans": SPANS, "logs": LOGS, "messages": MESSAGES,
          "queues": QUEUES, "faults": FAULTS}

OUTCOMES = ("ok", "error", "timeout", "rejected", "in_flight")
