"""Spans as OpenTelemetry sees them: attributes under semantic-convention names, links.

The spans table keeps each fact once, in a column (``service``, ``topic``, ``attempt``
...); tracing tools want them as attributes with agreed names. These functions make
that view on demand, from the table, so that a run pays nothing for it.
"""

import pandas as pd

SYSTEM = "simlab"  # the value of rpc.system and messaging.system
FAILED = ("error", "timeout", "rejected")  # the statuses of a span that failed


def attributes(span):
    """The attributes of one span (a row of ``result.spans``), as a dict."""
    found = {"service.name": span.service, "service.version": span.version}
    if span.kind in ("server", "client"):
        service, method = (span.service, span.operation) if span.kind == "server" else \
            span.operation.split(".", 1)
        found.update({"rpc.system": SYSTEM, "rpc.service": service, "rpc.method": method})
    elif span.kind in ("producer", "consumer"):
        found.update({"messaging.system": SYSTEM, "messaging.destination.name": span.topic,
                      "messaging.operation": "publish" if span.kind == "producer"
                      else "process",
                      "messaging.message.id": str(span.message_id),
                      "simlab.broker": span.broker})
        if span.group:
            found["messaging.consumer.group.name"] = span.group
    if span.status in FAILED:
        found["error.type"] = span.status
    if span.kind == "client":
        found["simlab.attempt"] = int(span.attempt)
        if span.fallback:
            found["simlab.fallback"] = True
    if span.wait > 0:
        found["simlab.queue_wait"] = float(span.wait)
    if span.kind in ("server", "consumer") and span.parent_id:
        # The context it received: the caller's client span, or the message's producer span.
        found["simlab.traceparent"] = f"00-{span.trace_id}-{span.parent_id}-01"
    return found


def span_attributes(spans):
    """A Series of attribute dicts, one per row of ``spans`` (same index)."""
    return pd.Series([attributes(span) for span in spans.itertuples(index=False)],
                     index=spans.index, dtype=object, name="attributes")


def span_links(spans):
    """One row per link: a consumer span links to the producer span of its message.

    Its parent is that producer span too, so that one business flow reads as one trace
    (what the lessons show); the link is how OpenTelemetry's messaging conventions say
    it, and what a tool expects when a consumer starts a trace of its own.
    Columns: ``trace_id``, ``span_id`` (the consumer span), ``linked_trace_id``,
    ``linked_span_id`` (the producer span).
    """
    # A consumer that got no trace context (see "Broken propagation" in simlab.broker)
    # has no parent, and nothing to link to.
    consumers = spans[(spans.kind == "consumer") & (spans.parent_id != "")]
    return pd.DataFrame({"trace_id": consumers.trace_id.to_numpy(),
                         "span_id": consumers.span_id.to_numpy(),
                         "linked_trace_id": consumers.trace_id.to_numpy(),
                         "linked_span_id": consumers.parent_id.to_numpy()})
