"""The client span of a fast-path call is made from its server span when the spans table
is built (simlab.span_layout): it must be the span the general path writes."""

import numpy as np
import pandas as pd
import pytest

import simlab as sl


def chain_world(timeout=None, seed=4):
    """front.go calls auth.check, then orders.place, which calls stock.take: two levels of
    synchronous calls, queues at every service but the front, a log line in a callee."""
    world = sl.World(seed=seed)
    front = world.service("front", workers=None)
    auth = world.service("auth", workers=2, work=sl.Exp(mean=0.01))
    orders = world.service("orders", workers=2, work=sl.Exp(mean=0.015), version="3.1")
    stock = world.service("stock", workers=1, work=sl.Exp(mean=0.01), error_rate=0.1)

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.call("auth", "check", payload, timeout=timeout)
        try:
            yield ctx.call("orders", "place", payload, timeout=timeout)
        except sl.CallError:
            ctx.log("order failed", level="warning")

    @orders.endpoint("place")
    def place(ctx, payload):
        yield ctx.work()
        ctx.log("placing", order=payload)
        yield ctx.call("stock", "take", payload, timeout=timeout)

    for service, name in ((auth, "check"), (stock, "take")):
        @service.endpoint(name)
        def work(ctx, payload):
            yield ctx.work()

    world.load(sl.Poisson(rate=60), target=("front", "go"), duration=20)
    return world


def test_a_fast_path_client_span_is_its_callees_twin():
    result = chain_world().run()
    spans = result.spans
    assert (spans.span_id == [f"{i:016x}" for i in range(1, len(spans) + 1)]).all(), \
        "span ids are 1, 2, 3... in the order the spans began"
    by_id = spans.set_index("span_id")
    clients = spans[spans.kind == "client"]
    assert len(clients) > 1000
    servers = by_id.loc[[f"{int(i, 16) + 1:016x}" for i in clients.span_id]]
    # The span just after a client span is the callee's server span, its child.
    assert (servers.kind == "server").all()
    assert (servers.parent_id.to_numpy() == clients.span_id.to_numpy()).all()
    for column in ("trace_id", "start", "end", "status"):
        assert (servers[column].to_numpy() == clients[column].to_numpy()).all(), column
    assert ((servers.service + "." + servers.operation).to_numpy()
            == clients.operation.to_numpy()).all()
    callers = by_id.loc[clients.parent_id]
    assert (callers.service.to_numpy() == clients.service.to_numpy()).all()
    assert (callers.version.to_numpy() == clients.version.to_numpy()).all()
    assert (clients.attempt == 1).all() and (clients.wait == 0).all()
    assert set(clients.status) >= {"ok", "error"}, "failed calls are mirrored too"
    # Span ids elsewhere name the same spans: a log line's span is the one that wrote it.
    placing = result.logs[result.logs.message == "placing"]
    assert (by_id.loc[placing.span_id].operation == "place").all()


def _shape(result):
    """Each trace's spans, ids left out: their fields, and the kind of their parent."""
    spans = result.spans
    kinds = dict(zip(spans.span_id, spans.kind))
    shape = spans.assign(parent_kind=spans.parent_id.map(kinds).fillna("")).drop(
        columns=["span_id", "parent_id"])
    return shape.sort_values(list(shape.columns)).reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_fast_path_records_what_the_general_path_records(seed):
    # A timeout no call reaches takes every call off the fast path: each client span is
    # then written as the call begins, by simlab.calls.attempt, the callee in a process
    # of its own. The spans must be the same, but for their ids.
    fast, general = chain_world(seed=seed).run(), chain_world(timeout=1e6, seed=seed).run()
    pd.testing.assert_frame_equal(_shape(fast), _shape(general))
    assert len(fast.spans) == fast._records.span_count() > len(fast._records.spans)
    assert np.isclose(fast.summary()["latency_p99"], general.summary()["latency_p99"])
