"""Behaviour: small scenarios, each showing one rule of the simulated world.

Most use constant work times, so the expected times can be worked out by hand.
"""

import numpy as np
import pytest
from checks import max_overlap, spans_of

import simlab as sl


def add_leaf(world, name, workers=1, work=1.0, queue=None):
    """A service ``name`` with one endpoint ``get`` that only computes."""
    leaf = world.service(name, workers=workers, work=work, queue=queue)

    @leaf.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()

    return leaf


# -- timeouts: the caller gives up, the callee does not know


def test_client_timeout_leaves_the_server_working():
    world = sl.World(seed=1)
    add_leaf(world, "slow", work=1.0)
    world.load(sl.Poisson(rate=0.2), target=("slow", "get"), duration=20, timeout=0.4)
    result = world.run()
    requests = result.requests.set_index("trace_id")
    assert len(requests) > 0
    assert (requests.outcome == "timeout").all()
    assert np.allclose(requests.latency, 0.4)
    # The server went on and finished its work, successfully, after the client left.
    server = spans_of(result, "slow").set_index("trace_id")
    assert (server.status == "ok").all()
    assert (server.end.loc[requests.index] > requests.end).all()


def test_call_timeout_leaves_the_callee_working():
    world = sl.World(seed=1)
    front = world.service("front", workers=None)
    add_leaf(world, "back", work=0.5)

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.call("back", "get", payload, timeout=0.2)

    world.load(sl.Poisson(rate=0.5), target=("front", "go"), duration=20)
    result = world.run()
    requests = result.requests
    assert len(requests) > 0 and (requests.outcome == "timeout").all()
    client = spans_of(result, "front", kind="client").set_index("trace_id")
    server = spans_of(result, "back").set_index("trace_id")
    # The caller's side of the call gave up after 0.2 s ...
    assert (client.status == "timeout").all()
    assert np.allclose(client.duration, 0.2)
    # ... while the callee's side (a child of it) ran on and succeeded.
    assert (server.parent_id == client.span_id.loc[server.index]).all()
    assert (server.status == "ok").all()
    assert (server.end > client.end.loc[server.index]).all()
    # The caller logged a warning in its client span.
    warnings = result.logs[result.logs.level == "warning"]
    assert sorted(warnings.span_id) == sorted(client.span_id)
    assert warnings.message.str.contains("no answer within 0.2 s").all()


def test_a_handler_may_catch_a_timeout_and_fall_back():
    world = sl.World(seed=1)
    front = world.service("front", workers=None)
    add_leaf(world, "back", work=0.5)

    @front.endpoint("go")
    def go(ctx, payload):
        try:
            yield ctx.call("back", "get", payload, timeout=0.2)
        except sl.CallError as error:
            assert error.kind == "timeout"
            ctx.log("fallback: cached answer")

    world.load(sl.Poisson(rate=0.5), target=("front", "go"), duration=20)
    result = world.run()
    assert (result.requests.outcome == "ok").all()
    assert np.allclose(result.requests.latency, 0.2)


# -- a bounded queue rejects what does not fit


def test_queue_zero_rejects_whatever_finds_the_worker_busy():
    world = sl.World(seed=3)
    add_leaf(world, "api", workers=1, work=sl.Exp(mean=0.1), queue=0)
    world.load(sl.Poisson(rate=8), target=("api", "get"), duration=30)
    result = world.run()
    requests = result.requests
    served = requests[requests.outcome == "ok"]
    rejected = requests[requests.outcome == "rejected"]
    assert len(served) > 50 and len(rejected) > 50
    assert set(requests.outcome) == {"ok", "rejected"}
    # Served requests never waited, and never overlapped: one worker, no queue.
    assert (spans_of(result, "api").query("status == 'ok'")["wait"] == 0).all()
    assert max_overlap(served.start.to_numpy(), served.end.to_numpy()) == 1
    # A request was rejected at once exactly when it arrived while the worker was busy.
    def busy(t):
        return ((served.start < t) & (t < served.end)).any()

    assert all(busy(t) for t in rejected.start)
    assert not any(busy(t) for t in served.start)
    assert (rejected.latency == 0).all()
    assert rejected.reason.str.contains("queue full").all()


def test_a_queue_holds_at_most_its_limit():
    world = sl.World(seed=3)
    add_leaf(world, "api", workers=2, work=sl.Exp(mean=0.1), queue=3)
    world.load(sl.Poisson(rate=25), target=("api", "get"), duration=30)
    result = world.run()
    spans = spans_of(result, "api")
    admitted = spans[spans.status == "ok"]
    assert (spans.status == "rejected").sum() > 10
    # Waiting intervals [arrival, arrival + wait) never number more than 3 at once,
    # and at times they do reach 3 (or the test would prove nothing).
    waits = admitted[admitted["wait"] > 0]
    assert max_overlap(waits.start.to_numpy(), (waits.start + waits["wait"]).to_numpy()) == 3
    assert result.queues.query("service == 'api'").queued.max() <= 3


# -- crashes


@pytest.fixture(scope="module")
def crashed():
    world = sl.World(seed=5)
    add_leaf(world, "api", workers=2, work=sl.Exp(mean=0.1))
    world.load(sl.Poisson(rate=15), target=("api", "get"), duration=10)
    world.faults.crash("api", at=4.0, duration=2.0)
    return world.run()


def test_calls_during_a_crash_fail_at_once(crashed):
    requests = crashed.requests
    during = requests[(requests.start >= 4.0) & (requests.start < 6.0)]
    assert len(during) > 10
    assert (during.outcome == "error").all()
    assert (during.latency == 0).all()
    assert during.reason.str.contains("api is down").all()


def test_requests_inside_at_the_crash_die_with_it(crashed):
    requests = crashed.requests
    before = requests[requests.start < 4.0]
    caught = before[before.outcome != "ok"]
    assert len(caught) > 0
    assert (caught.outcome == "error").all()
    assert (caught.end >= 4.0).all()            # they failed at the crash or after it
    assert (before[before.outcome == "ok"].end <= 4.0).all()  # the others finished before


def test_after_the_restart_requests_succeed_again(crashed):
    requests = crashed.requests
    after = requests[requests.start >= 6.0]
    assert len(after) > 30
    assert (after.outcome == "ok").all()
    faults = crashed.faults
    assert faults[["fault", "target", "start", "end"]].values.tolist() == \
        [["crash", "api", 4.0, 6.0]]


# -- the broker


def shop_with_broker(consumer_work=0.1, shipping_workers=2, fails=lambda attempt: False,
                     max_attempts=3, redelivery_delay=0.5, rate=5.0, duration=10):
    """orders publishes every order; groups "shipping" and "billing" consume them."""
    world = sl.World(seed=2)
    orders = world.service("orders", workers=None, work=0.01)
    shipping = world.service("shipping", workers=shipping_workers, work=consumer_work)
    billing = world.service("billing", workers=1, work=0.01)
    bus = world.broker("bus", topics=["orders"], max_attempts=max_attempts,
                       redelivery_delay=redelivery_delay)
    attempts = {}  # order id -> deliveries so far, to fail on purpose

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        ctx.log("placed")
        ctx.publish(bus, "orders", order, key=order.id)

    @shipping.consumer(bus, "orders", group="shipping")
    def ship(ctx, order):
        attempts[order.id] = attempts.get(order.id, 0) + 1
        yield ctx.work()
        ctx.log("shipping")
        if fails(attempts[order.id]):
            raise sl.ServiceError("warehouse unavailable")

    @billing.consumer(bus, "orders", group="billing")
    def bill(ctx, order):
        yield ctx.work()

    world.load(sl.Poisson(rate=rate), target=("orders", "place"), duration=duration)
    return world.run()


def events_of(result, group):
    messages = result.messages
    return messages[messages.group == group]


def test_every_group_gets_every_message_once():
    result = shop_with_broker()
    messages = result.messages
    published = set(messages[messages.event == "publish"].message_id)
    assert len(published) > 20
    for group in ("shipping", "billing"):
        events = events_of(result, group)
        delivered = events[events.event == "deliver"].message_id
        assert sorted(delivered) == sorted(published)  # each one, exactly once
        assert set(events[events.event == "ack"].message_id) == published


def test_consumers_of_a_group_compete_for_messages():
    # A burst of orders, each taking 1 s to ship, for 3 shipping consumers.
    result = shop_with_broker(consumer_work=1.0, shipping_workers=3, rate=20, duration=2)
    spans = spans_of(result, "shipping", kind="consumer")
    assert len(spans) > 10
    # They work side by side, up to 3 at a time ...
    assert max_overlap(spans.start.to_numpy(), spans.end.to_numpy()) == 3
    # ... and each message goes to one of them only.
    delivered = events_of(result, "shipping").query("event == 'deliver'").message_id
    assert delivered.is_unique


def test_a_failing_message_is_redelivered_then_dead_lettered():
    result = shop_with_broker(fails=lambda attempt: True, max_attempts=3, redelivery_delay=0.5)
    events = events_of(result, "shipping")
    assert len(events) > 0
    for _, one in events.groupby("message_id"):
        assert one.event.tolist() == ["deliver", "redeliver"] * 2 + ["deliver", "dead_letter"]
        assert one.attempt.tolist() == [1, 1, 2, 2, 3, 3]
        # Each delivery fails after its 0.1 s of work; the next one comes redelivery_delay
        # later at the earliest (later if both consumers are busy with other orders).
        gaps = np.diff(one.time.to_numpy())
        assert np.allclose(gaps[0::2], 0.1)
        assert (gaps[1::2] >= 0.5 - 1e-9).all()
    ledger = result.message_ledger().query("group == 'shipping'")
    assert (ledger.state == "dead_lettered").all() and (ledger.attempts == 3).all()
    dead = result.logs[result.logs.message.str.contains("dead-lettered")]
    assert len(dead) == len(ledger)
    # The other group is not held back by shipping's trouble.
    assert (result.message_ledger().query("group == 'billing'").state == "acked").all()


def test_a_message_that_fails_once_is_acked_on_the_second_attempt():
    result = shop_with_broker(fails=lambda attempt: attempt == 1)
    ledger = result.message_ledger().query("group == 'shipping'")
    assert len(ledger) > 0
    assert (ledger.state == "acked").all() and (ledger.attempts == 2).all()


def test_a_partition_keeps_the_order_of_its_messages_through_failures():
    world = sl.World(seed=4)
    orders = world.service("orders", workers=None)
    shipping = world.service("shipping", workers=3, work=sl.Exp(mean=0.05))
    bus = world.broker("bus", max_attempts=3, redelivery_delay=0.2)
    bus.topic("orders", partitions=3)

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.sleep(0)
        ctx.publish(bus, "orders", order, key=order.id % 4)

    @shipping.consumer(bus, "orders", group="shipping")
    def ship(ctx, order):
        yield ctx.work()
        if ctx.random() < 0.3:
            raise sl.ServiceError("try again")

    world.load(sl.Poisson(rate=20), target=("orders", "place"), duration=10)
    messages = world.run().messages
    assert (messages.event == "redeliver").sum() > 10
    for key, one in messages.groupby("key"):
        published = one[one.event == "publish"].message_id.tolist()
        settled = one[one.event.isin(["ack", "dead_letter"])].message_id.tolist()
        assert settled == published, f"key {key}: settled out of order"


# -- closed-loop users


def test_users_never_have_more_than_n_requests_in_flight():
    world = sl.World(seed=6)
    add_leaf(world, "api", workers=1, work=sl.Exp(mean=0.1))
    world.load(sl.Users(n=4, think=sl.Exp(mean=0.05)), target=("api", "get"), duration=20)
    requests = world.run().requests
    assert len(requests) > 100
    # Slow service, short think time: the 4 users are often all waiting at once, never more.
    assert max_overlap(requests.start.to_numpy(), requests.end.to_numpy()) == 4


# -- trace context and logs


def test_consumer_spans_are_children_of_the_producer_span():
    result = shop_with_broker()
    spans = result.spans.set_index("span_id")
    producers = spans[spans.kind == "producer"]
    consumers = spans[spans.kind == "consumer"]
    assert len(producers) > 20
    assert len(consumers) == 2 * len(producers)  # two groups
    parents = spans.loc[consumers.parent_id]
    assert (parents.kind == "producer").all()
    assert (parents.operation == "publish orders").all()
    assert (parents.trace_id.to_numpy() == consumers.trace_id.to_numpy()).all()
    # The messages table carries the producer span too.
    published = result.messages.query("event == 'publish'")
    assert set(published.span_id) == set(producers.index)


def test_log_lines_point_at_real_spans_of_their_trace():
    result = shop_with_broker(fails=lambda attempt: True)
    logs = result.logs
    assert {"placed", "shipping"} <= set(logs.message)
    traced = logs[logs.trace_id != ""]
    assert len(traced) == len(logs)  # no fault in this run, so no system line
    spans = result.spans.set_index("span_id")
    assert traced.span_id.isin(spans.index).all()
    assert (spans.trace_id.loc[traced.span_id].to_numpy() == traced.trace_id.to_numpy()).all()


def test_fault_log_lines_have_no_trace(crashed):
    """The crash and the restart are logged by the system, outside any request."""
    system = crashed.logs[crashed.logs.trace_id == ""]
    assert system.time.tolist() == [4.0, 6.0]
    assert (system.service == "api").all()
    assert system.message.str.contains("crash").all()
    assert (system.span_id == "").all()


# -- telemetry agrees with the live state it describes


def test_queue_samples_match_the_spans():
    """At every sample time, the queue table's 'queued' and 'busy' are the spans waiting
    for a worker and the spans holding one: two records of the same moment agree."""
    world = sl.World(seed=8, sample_every=0.25)
    add_leaf(world, "api", workers=2, work=sl.Exp(mean=0.1))
    world.load(sl.Poisson(rate=17), target=("api", "get"), duration=30)
    result = world.run()
    spans = spans_of(result, "api")
    began = (spans.start + spans["wait"]).to_numpy()[:, None]
    start, end = spans.start.to_numpy()[:, None], spans.end.to_numpy()[:, None]
    samples = result.queues.query("service == 'api'")
    t = samples.time.to_numpy()[None, :]
    waiting = ((start <= t) & (t < began)).sum(axis=0)
    working = ((began <= t) & (t < end)).sum(axis=0)
    assert samples.queued.max() > 2  # there was a queue to see
    assert waiting.tolist() == samples.queued.astype(int).tolist()
    assert working.tolist() == samples.busy.astype(int).tolist()


# -- every table has its documented columns, even when empty


def result_tables(result):
    return {name: getattr(result, name) for name in sl.schema.TABLES}


def test_tables_have_the_schema_columns_when_full():
    result = shop_with_broker(fails=lambda attempt: attempt == 1)
    for name, frame in result_tables(result).items():
        assert list(frame.columns) == list(sl.schema.TABLES[name]), name


def test_tables_have_the_schema_columns_when_empty():
    # Nothing publishes, nothing crashes, and the run stops before the load begins.
    world = sl.World(seed=1)
    add_leaf(world, "api")
    world.broker("bus", topics=["orders"])
    world.load(sl.Poisson(rate=1), target=("api", "get"), duration=5, start=100)
    result = world.run(until=10)
    tables = result_tables(result)
    for name in ("requests", "spans", "logs", "messages", "faults"):
        assert tables[name].empty, name
    for name, frame in tables.items():
        assert list(frame.columns) == list(sl.schema.TABLES[name]), name
    assert list(result.message_ledger().columns) == [
        "broker", "topic", "group", "message_id", "state", "attempts"]


def test_compare_knows_every_summary_metric_and_refuses_others_before_running():
    from simlab import experiments

    summary = sl.scenarios.shop(duration=2).run().summary()
    assert sorted(summary.index) == sorted(experiments.SUMMARY)
    ran = []

    def build():
        ran.append(1)
        return sl.scenarios.shop(duration=2)

    with pytest.raises(sl.ModelError, match="unknown metric 'p99'"):
        sl.compare({"sync": build}, seeds=[1, 2], metrics=("p99",))
    assert ran == []  # refused before any replication ran


def test_compare_refuses_a_single_seed_before_running_anything():
    ran = []

    def build():
        ran.append(1)
        return sl.scenarios.shop(duration=2)

    with pytest.raises(sl.ModelError, match=r"compare: seeds=\[3\]: a confidence interval "
                                            "needs 2 seeds or more"):
        sl.compare({"sync": build}, seeds=[3])
    assert ran == []
