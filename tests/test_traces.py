"""Trace analysis on small worlds whose answers are known: the critical path, self time,
dependencies, RED metrics, search; broken trace propagation; sampling."""

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from checks import assert_binomial

import simlab as sl
from simlab.calls import Call
from simlab.records import OUTCOMES
from simlab.scenarios import shop
from simlab.traces import _covered


def chain(slow="b", fan_out=False):
    """front does 10 ms of work, then calls a, b and c one after another (or, with
    ``fan_out``, publishes one event that a, b and c consume in parallel); each leaf
    works 10 ms, ``slow`` 200 ms."""
    world = sl.World(seed=1)
    front = world.service("front", workers=None, work=sl.Constant(0.010))
    bus = world.broker("bus", topics=["go"])
    for name in "abc":
        leaf = world.service(name, workers=None,
                             work=sl.Constant(0.200 if name == slow else 0.010))
        leaf.endpoint("go")(_leaf)
        if fan_out:
            leaf.consumer(bus, "go")(_leaf)

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.work()
        if fan_out:
            ctx.publish(bus, "go", payload)
        else:
            for name in "abc":
                yield ctx.call(name, "go")

    world.load(sl.Poisson(rate=5), target=("front", "go"), duration=4)
    return world.run()


def _leaf(ctx, payload):
    yield ctx.work()


def first_trace(result):
    return result.requests.trace_id.iloc[0]


def test_the_critical_path_goes_through_the_slow_call_and_sums_to_the_latency():
    result = chain(slow="b")
    trace = first_trace(result)
    path = sl.traces.critical_path(result, trace)
    latency = result.requests.latency.iloc[0]
    assert path.on_path.sum() == pytest.approx(latency, abs=1e-12)
    by_service = path.groupby("service").on_path.sum()
    assert by_service["b"] == pytest.approx(0.200)
    assert by_service["front"] == pytest.approx(0.010)
    assert list(path.start) == sorted(path.start), "the path is in time order"
    assert path.kind.iloc[0] == "server" and path.service.iloc[0] == "front"


def test_a_fan_out_of_events_leaves_the_branches_off_the_path():
    result = chain(slow="c", fan_out=True)
    trace = first_trace(result)
    path = sl.traces.critical_path(result, trace)
    assert set(path.service) == {"front"}, "the client waits for nobody downstream"
    assert path.on_path.sum() == pytest.approx(0.010)
    completion = result.traces().set_index("trace_id").completion[trace]
    assert completion == pytest.approx(0.210), "the branches ran in parallel: max, not sum"
    sequential = chain(slow="c")
    path = sl.traces.critical_path(sequential, first_trace(sequential))
    assert path.on_path.sum() == pytest.approx(0.230)
    assert set(path[path.kind == "server"].service) == {"front", "a", "b", "c"}


def test_the_critical_path_of_every_shop_trace_sums_to_its_root(shop_runs):
    for result in shop_runs.values():
        roots = result.spans[result.spans.parent_id == ""].dropna(subset=["end"])
        for row in roots.sample(20, random_state=0).itertuples():
            path = sl.traces.critical_path(result, row.trace_id)
            assert path.on_path.sum() == pytest.approx(row.duration, rel=1e-9, abs=1e-12)
            assert (path.on_path >= -1e-12).all()


def hand_trace(spans, end_time=20.0):
    """A result-like object holding one hand-made trace: ``spans`` maps a span id to
    (parent id, start, end)."""
    table = pd.DataFrame([{"trace_id": "t", "span_id": span, "parent_id": parent,
                           "service": span, "operation": "go", "kind": "server",
                           "start": start, "end": end, "duration": end - start}
                          for span, (parent, start, end) in spans.items()])
    return SimpleNamespace(spans=table, end_time=end_time)


def test_a_gap_in_which_an_unfollowed_child_ran_is_the_parents_on_the_path():
    # From the root's end: B ended last (follow it, 5-8); before 5, C ended at 6, too
    # late to be waited on, so A (0-4) is followed. 4-5 and 8-10 go to the root,
    # though C ran during 4-5: 3 s on the path for 2 s of self time.
    result = hand_trace({"root": ("", 0.0, 10.0), "A": ("root", 0.0, 4.0),
                         "B": ("root", 5.0, 8.0), "C": ("root", 3.0, 6.0)})
    path = sl.traces.critical_path(result, "t").set_index("span_id").on_path
    assert path.to_dict() == pytest.approx({"root": 3.0, "A": 4.0, "B": 3.0})
    assert _covered(result.spans)["root"] == pytest.approx(8.0), "self time 2 s"


def test_a_child_that_starts_before_its_parent_counts_from_the_parents_start():
    # Clock skew: the child's host runs 0.5 s behind, so it seems to start first.
    result = hand_trace({"root": ("", 0.0, 10.0), "child": ("root", -0.5, 4.0)})
    path = sl.traces.critical_path(result, "t").set_index("span_id").on_path
    assert path.sum() == pytest.approx(10.0), "the path is the root's duration"
    assert path.to_dict() == pytest.approx({"root": 6.0, "child": 4.0})


def test_self_time_of_a_parent_that_only_waits_is_its_own_work():
    result = chain(slow="b")
    spans = sl.traces.self_time(result, first_trace(result))
    front = spans[(spans.kind == "server") & (spans.service == "front")]
    assert front.self_time.iloc[0] == pytest.approx(0.010)
    assert front.duration.iloc[0] == pytest.approx(0.230)
    clients = spans[spans.kind == "client"]
    assert clients.self_time.max() == pytest.approx(0.0), "no network delay in this world"
    b = spans[(spans.kind == "server") & (spans.service == "b")]
    assert b.self_time.iloc[0] == pytest.approx(0.200)


def test_overlapping_children_count_once_in_self_time():
    spans = pd.DataFrame({"span_id": ["p", "x", "y", "z", "q"],
                          "parent_id": ["", "p", "p", "p", ""],
                          "start": [0.0, 1.0, 2.0, 9.0, 0.0],
                          "end": [10.0, 4.0, 3.0, 12.0, 1.0]})
    covered = _covered(spans)
    # x covers 1-4 (y inside it adds nothing), z is clipped to 9-10: 4 s of 10.
    assert covered["p"] == pytest.approx(4.0)
    assert "q" not in covered.index


def test_time_by_endpoint_puts_the_slow_leaf_first_and_shares_sum_to_one():
    table = sl.traces.time_by_endpoint(chain(slow="b"))
    assert (table.service.iloc[0], table.operation.iloc[0]) == ("b", "go")
    assert table.share.sum() == pytest.approx(1.0)
    assert table.self_p50.iloc[0] == pytest.approx(0.200)


@pytest.fixture(scope="module")
def shop_runs():
    return {style: shop(style, rate=40, duration=20, seed=2).run()
            for style in ("sync", "async")}


def test_dependency_edges_are_the_shop_call_graph(shop_runs):
    sync = sl.traces.dependencies(shop_runs["sync"])
    assert set(zip(sync.caller, sync.callee)) == {
        ("gateway", "orders"), *{("orders", s) for s in
                                 ("payments", "inventory", "shipping", "notifications")}}
    assert set(sync.kind) == {"call"}
    requests = len(shop_runs["sync"].requests)
    assert (sync.calls <= requests).all() and (sync.calls > 0.95 * requests).all()
    events = sl.traces.dependencies(shop_runs["async"])
    assert set(zip(events.caller, events.callee, events.kind)) == {
        ("gateway", "orders", "call"), ("orders", "payments", "message"),
        ("payments", "inventory", "message"), ("inventory", "shipping", "message"),
        ("shipping", "notifications", "message"), ("shipping", "tracking", "message")}
    graph = sl.traces.dependency_graph(shop_runs["async"], declared=True)
    assert {state for _, _, state in graph.edges(data="state")} == {"seen"}
    assert (events.p50 <= events.p99).all()


def test_errors_on_an_edge_are_counted():
    result = shop("sync", rate=40, duration=20, seed=2, error_rates={"payments": 0.2}).run()
    deps = sl.traces.dependencies(result).set_index(["caller", "callee"])
    edge = deps.loc[("orders", "payments")]
    assert_binomial(edge.errors, edge.calls, 0.2, 0.1, "error rate of orders -> payments")
    assert deps.loc[("orders", "inventory")].errors == 0


def test_declared_list_marks_unseen_and_undeclared_edges(shop_runs):
    graph = sl.traces.dependency_graph(shop_runs["sync"], declared=[
        ("gateway", "orders"), ("orders", "payments"), ("gateway", "fraud")])
    assert graph["gateway"]["fraud"]["state"] == "unseen"
    assert graph["gateway"]["fraud"]["calls"] == 0
    assert graph["orders"]["payments"]["state"] == "seen"
    assert graph["orders"]["shipping"]["state"] == "undeclared"


def test_red_rate_matches_the_poisson_load():
    world = sl.World(seed=4)
    leaf = world.service("leaf", workers=None, work=sl.Exp(mean=0.01))
    leaf.endpoint("get")(_leaf)
    world.load(sl.Poisson(rate=50), target=("leaf", "get"), duration=40)
    result = world.run()
    table = sl.traces.red(result, window=2.0)
    assert list(table.columns) == ["time", "service", "operation", "rate", "errors",
                                   "error_rate", "p50", "p99"]
    inside = table[(table.time >= 2) & (table.time < 38)]  # windows the load covers fully
    seconds = 2.0 * len(inside)
    count = (inside.rate * 2.0).sum()
    # A Poisson count over `seconds` has variance rate * seconds.
    assert abs(count / seconds - 50) < 4 * math.sqrt(50 / seconds)
    assert (inside.errors == 0).all() and (inside.p50 < inside.p99).all()
    assert np.allclose(table.time.diff().dropna(), 2.0), "every window has a row"


def test_search_finds_the_traces_with_a_failed_slow_span():
    result = shop("sync", rate=40, duration=20, seed=2, error_rates={"payments": 0.2}).run()
    found = sl.traces.search(result, service="payments", status="error")
    spans = result.spans
    failed = spans[(spans.service == "payments") & (spans.kind == "server")
                   & (spans.status == "error")]
    assert set(found.trace_id) == set(failed.trace_id)
    assert (found.errors > 0).all() and (found.service == "gateway").all()
    slow = sl.traces.search(result, service="payments", status="error", min_duration=0.1)
    assert set(slow.trace_id) <= set(found.trace_id) and (slow.duration >= 0.1).all()
    assert len(slow) < len(found)
    by_attribute = sl.traces.search(result, attributes={"rpc.method": "charge",
                                                        "error.type": "error"})
    assert set(by_attribute.trace_id) == set(found.trace_id)


def test_search_by_duration_counts_a_trace_in_flight_up_to_the_end_of_the_run():
    world = sl.World(seed=3)
    slow = world.service("slow", workers=None, work=sl.Constant(1.0))
    slow.endpoint("go")(_leaf)
    world.load(sl.Poisson(rate=5), target=("slow", "go"), duration=10)
    result = world.run(until=2.5)
    traces = sl.traces.search(result)
    running = traces.duration.isna()
    so_far = result.end_time - traces.start
    assert running.sum() >= 2 and np.allclose(traces.duration[~running], 1.0)
    found = sl.traces.search(result, min_duration=0.5)
    assert set(found.trace_id) == set(traces.trace_id[~running | (so_far >= 0.5)])
    assert found.duration.isna().any(), "in flight for 0.5 s or more: as slow as that"
    short = sl.traces.search(result, max_duration=1.0)
    assert set(short.trace_id) == set(traces.trace_id[~running]), "may last longer still"


@pytest.mark.parametrize("call, message", [
    (lambda r: sl.traces.critical_path(r, "f" * 32), "unknown trace id"),
    (lambda r: sl.traces.search(r, service="paymnets"), "unknown service 'paymnets'"),
    (lambda r: sl.traces.search(r, status="failed"), "unknown status"),
    (lambda r: sl.traces.red(r, window=0), "window must be a positive"),
    (lambda r: sl.traces.red(r, by="colour"), "unknown column to group by"),
    (lambda r: sl.traces.traceparent("xyz", 1), "trace_id must be"),
    (lambda r: sl.traces.HeadSampling(1.5), "rate must be a fraction"),
])
def test_bad_input_is_named(shop_runs, call, message):
    with pytest.raises(sl.ModelError, match=message):
        call(shop_runs["sync"])


def test_unknown_service_error_lists_the_known_ones(shop_runs):
    with pytest.raises(sl.ModelError, match="payments"):
        sl.traces.search(shop_runs["sync"], service="paymnets")


# -- propagation

def flow(call=True, publish=True, consumer=True):
    """gateway -call-> payments -publish-> shipping, each hop propagating or not."""
    world = sl.World(seed=3)
    gateway = world.service("gateway", workers=4, work=sl.Exp(mean=0.002))
    payments = world.service("payments", workers=4, work=sl.Exp(mean=0.01))
    shipping = world.service("shipping", workers=4, work=sl.Exp(mean=0.01))
    bus = world.broker("bus", topics=["paid"])

    @gateway.endpoint("checkout")
    def checkout(ctx, order):
        yield ctx.work()
        yield ctx.call("payments", "charge", order, propagate=call)

    @payments.endpoint("charge")
    def charge(ctx, order):
        yield ctx.work()
        ctx.log("charged")
        ctx.publish(bus, "paid", order, propagate=publish)

    @shipping.consumer(bus, "paid", group="shipping", propagate=consumer)
    def ship(ctx, order):
        yield ctx.work()
        ctx.log("shipped")

    world.load(sl.Poisson(rate=20), target=("gateway", "checkout"), duration=5)
    return world.run()


def assert_ledgers_hold(result):
    """Every request has one outcome (here: ok), every message is settled (acked)."""
    assert result.requests.request_id.is_unique
    assert (result.requests.outcome == "ok").all()
    assert (result.message_ledger().state == "acked").all()


def test_with_propagation_the_flow_is_one_trace():
    result = flow()
    assert result.spans.trace_id.nunique() == len(result.requests)
    assert set(result.logs.trace_id) <= set(result.requests.trace_id)
    messages = result.messages[result.messages.event == "publish"]
    producer = result.spans.set_index("span_id").loc[messages.span_id.iloc[0]]
    assert messages.traceparent.iloc[0] == sl.traces.traceparent(producer.trace_id,
                                                                 messages.span_id.iloc[0])
    servers = result.spans[result.spans.kind.isin(["server", "consumer"])
                           & (result.spans.parent_id != "")]
    received = result.span_attributes(servers)
    assert [a["simlab.traceparent"] for a in received] == [
        sl.traces.traceparent(t, p) for t, p in zip(servers.trace_id, servers.parent_id)]
    assert_ledgers_hold(result)


@pytest.mark.parametrize("hop", ["call", "publish", "consumer"])
def test_a_hop_that_does_not_propagate_splits_the_flow_in_two_traces(hop):
    result = flow(**{hop: False})
    requests = len(result.requests)
    spans = result.spans
    assert spans.trace_id.nunique() == 2 * requests
    roots = spans[spans.parent_id == ""]
    assert len(roots) == 2 * requests, "each new trace's root has no parent"
    downstream = "payments" if hop == "call" else "shipping"
    new_roots = roots[roots.service == downstream]
    assert len(new_roots) == requests
    assert not set(new_roots.trace_id) & set(result.requests.trace_id)
    logs = result.logs[result.logs.service == downstream]
    assert set(logs.trace_id) == set(new_roots.trace_id), "its logs carry the new trace id"
    graph = sl.traces.dependency_graph(result, declared=True)
    caller = "gateway" if hop == "call" else "payments"
    assert graph[caller][downstream]["state"] == "unseen"
    published = result.messages[result.messages.event == "publish"]
    assert (published.traceparent == "").all() == (hop == "publish")
    received = result.span_attributes(new_roots)
    assert not any("simlab.traceparent" in attributes for attributes in received)
    if hop != "call":
        assert result.span_links().empty, "a consumer with no context links to nothing"
    assert_ledgers_hold(result)


def test_a_plain_call_still_takes_the_fast_path():
    assert Call(None, "a", "go", None, None).plain
    assert not Call(None, "a", "go", None, None, propagate=False).plain


# -- sampling

def test_head_sampling_keeps_a_binomial_share_of_traces_and_whole_traces(shop_runs):
    result = shop_runs["async"]
    traces = result.spans.trace_id.nunique()
    kept = sl.traces.sample(result, sl.traces.HeadSampling(0.2), seed=5)
    assert_binomial(len(kept.trace_ids), traces, 0.2, 0.1, "head sampling at 0.2")
    assert set(kept.spans.trace_id) == set(kept.trace_ids)
    whole = result.spans[result.spans.trace_id.isin(kept.trace_ids)]
    assert len(kept.spans) == len(whole), "a trace is kept whole or not at all"
    assert set(kept.logs.trace_id) - {""} <= set(kept.trace_ids)
    again = sl.traces.sample(result, sl.traces.HeadSampling(0.2), seed=5)
    assert list(again.trace_ids) == list(kept.trace_ids)
    other = sl.traces.sample(result, sl.traces.HeadSampling(0.2), seed=6)
    assert list(other.trace_ids) != list(kept.trace_ids)


def test_a_split_trace_gets_its_own_head_decision():
    result = flow(consumer=False)
    kept = set(sl.traces.sample(result, sl.traces.HeadSampling(0.5), seed=1).trace_ids)
    spans = result.spans
    shipping = spans[spans.service == "shipping"].set_index("message_id").trace_id
    producers = spans[spans.kind == "producer"].set_index("message_id").trace_id
    first = producers.isin(kept)
    second = shipping.reindex(producers.index).isin(kept)
    assert (first != second).any(), "the two halves of a flow are decided apart"


def test_tail_sampling_keeps_every_error_trace_and_the_slowest():
    result = shop("sync", rate=40, duration=20, seed=2, error_rates={"payments": 0.05}).run()
    kept = sl.traces.sample(result, sl.traces.TailSampling(errors=True, slowest=0.05))
    traces = result.traces()
    failed = set(result.spans[result.spans.status == "error"].trace_id)
    assert failed and failed <= set(kept.trace_ids)
    slowest = traces.nlargest(math.ceil(0.05 * len(traces)), "completion").trace_id
    assert set(slowest) <= set(kept.trace_ids)
    assert len(kept.trace_ids) <= len(failed) + len(slowest)
    report = sl.traces.sampling_report(result, [sl.traces.HeadSampling(0.1),
                                                sl.traces.TailSampling()])
    assert list(report.columns) == ["policy", "traces_kept", "spans_kept",
                                    "error_traces_kept", "slow_traces_kept"]
    head, tail = report.itertuples()
    assert tail.error_traces_kept == 1.0 and tail.slow_traces_kept == 1.0
    assert head.error_traces_kept < 0.5 and 0.05 < head.traces_kept < 0.15


def test_tail_sampling_with_a_threshold_keeps_the_traces_that_took_that_long(shop_runs):
    result = shop_runs["sync"]
    traces = result.traces()
    threshold = traces.completion.quantile(0.9)
    slow = set(traces.trace_id[traces.completion >= threshold])
    policy = sl.traces.TailSampling(errors=False, slowest=0, slower_than=threshold)
    assert set(sl.traces.sample(result, policy).trace_ids) == slow
    assert str(policy) == f"tail: slower than {threshold:g} s"
    # The threshold adds to the slowest fraction: a trace either one picks is kept.
    both = sl.traces.TailSampling(errors=False, slowest=0.01, slower_than=threshold)
    slowest = set(traces.nlargest(math.ceil(0.01 * len(traces)), "completion").trace_id)
    assert set(sl.traces.sample(result, both).trace_ids) == slow | slowest
    with pytest.raises(sl.ModelError, match="slower_than must be None or 0 or more seconds"):
        sl.traces.TailSampling(slower_than=-0.5)


def test_traceparent_format():
    assert sl.traces.traceparent(255, 1, sampled=False) == \
        "00-000000000000000000000000000000ff-0000000000000001-00"
    assert sl.traces.traceparent("ab" * 16, "cd" * 8) == f"00-{'ab' * 16}-{'cd' * 8}-01"


def test_ledgers_hold_when_hops_without_context_meet_crashes_and_retries():
    world = sl.World(seed=5)
    front = world.service("front", workers=2, work=sl.Exp(mean=0.005))
    back = world.service("back", workers=2, work=sl.Exp(mean=0.01))
    sink = world.service("sink", workers=2, work=sl.Exp(mean=0.01))
    bus = world.broker("bus", topics=["done"], max_attempts=3, redelivery_delay=0.1)

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.work()
        yield ctx.call("back", "do", payload, timeout=0.2, propagate=False,
                       retry=sl.Retry(attempts=3, backoff=sl.Exponential(0.01)))
        ctx.publish(bus, "done", payload, propagate=False)

    @back.endpoint("do")
    def do(ctx, payload):
        yield ctx.work()

    @sink.consumer(bus, "done", propagate=False)
    def absorb(ctx, payload):
        yield ctx.work()

    world.faults.crash("back", at=2, duration=1)
    world.faults.crash("sink", at=3, duration=1)
    world.load(sl.Poisson(rate=40), target=("front", "go"), duration=6)
    result = world.run()
    requests = result.requests
    assert requests.request_id.is_unique and requests.outcome.isin(OUTCOMES).all()
    assert (requests.outcome != "ok").any() and (requests.outcome == "ok").any()
    ledger = result.message_ledger()
    assert len(ledger) == (result.messages.event == "publish").sum()
    assert ledger.state.isin(["acked", "dead_lettered", "pending"]).all()
    spans = result.spans
    downstream = spans[spans.kind.isin(["server", "consumer"]) & (spans.service != "front")]
    assert (downstream.parent_id == "").all(), "no hop carried the context"
    assert not set(downstream.trace_id) & set(requests.trace_id)
