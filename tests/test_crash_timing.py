"""A crash stops the work in progress at the instant of the crash, not when its step ends.

The models use fixed work times, so every instant below is exact: a request enters at
t = 0, ``front`` works 0.1 s, then calls ``mid`` (0.5 s of work), which calls ``leaf``
(4 s of work, from 0.6 s to 4.6 s). A crash at 1.0 s finds the request deep inside.
"""

import pytest
from checks import check_no_work_outlives_a_crash, spans_of
from hypothesis import given
from hypothesis import strategies as st

import simlab as sl

CRASH = 1.0      # every crash below starts here ...
RESTART = 1.5    # ... and ends here
LEAF_ENDS = 4.6  # when the leaf's work ends, if nothing stops it


def chain_world(crashed=None, call=None, catch=False, front_workers=1):
    """front -> mid -> leaf, one request at t = 0. ``call``: extra arguments of front's
    call to mid (a timeout, a retry ...). ``catch``: mid catches a failed call to leaf
    and answers "fallback" instead."""
    world = sl.World(seed=1)
    front = world.service("front", workers=front_workers)
    mid = world.service("mid", workers=1)
    leaf = world.service("leaf", workers=1)

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.work(0.1)
        return (yield ctx.call("mid", "go", payload, **(call or {})))

    @mid.endpoint("go")
    def mid_go(ctx, payload):
        yield ctx.work(0.5)
        try:
            return (yield ctx.call("leaf", "go", payload))
        except sl.CallError:
            if not catch:
                raise
            return "fallback"

    @leaf.endpoint("go")
    def leaf_go(ctx, payload):
        yield ctx.work(4.0)
        return "done"

    world.load(sl.Burst(size=1, over=1e-9), target=("front", "go"))
    if crashed:
        world.faults.crash(crashed, at=CRASH, duration=RESTART - CRASH)
    return world


def span(result, service, kind="server"):
    """The one span of ``service`` (of ``kind``), as a row."""
    found = spans_of(result, service, kind)
    assert len(found) == 1, found
    return found.iloc[0]


def request(result):
    assert len(result.requests) == 1
    return result.requests.iloc[0]


def approx(value):
    return pytest.approx(value, abs=1e-6)  # the burst sends the request a hair after 0


@pytest.mark.parametrize("crashed", ["front", "mid", "leaf"])
def test_the_request_fails_at_the_crash_whichever_service_crashed(crashed):
    result = chain_world(crashed).run()
    answer = request(result)
    assert (answer.outcome, answer.end) == ("error", CRASH)
    assert answer.reason.endswith(f"{crashed} crashed during the request")
    # The crashed service's span ends at the crash, in error; so do those above it.
    for service in ("front", "mid", "leaf")[:("front", "mid", "leaf").index(crashed) + 1]:
        server = span(result, service)
        assert (server.end, server.status) == (CRASH, "error")


def test_the_callers_client_span_ends_at_the_crash():
    result = chain_world("mid").run()
    client = span(result, "front", kind="client")
    assert (client.operation, client.end, client.status) == ("mid.go", CRASH, "error")


def test_a_caller_that_catches_the_failure_goes_on_at_the_crash():
    """leaf crashes: mid hears of it at 1.0 s, not at 4.6 s, and answers its fallback."""
    result = chain_world("leaf", catch=True).run()
    answer = request(result)
    assert (answer.outcome, answer.end) == ("ok", CRASH)
    assert span(result, "mid").status == "ok"


def test_a_callee_that_did_not_crash_runs_on_and_its_answer_goes_nowhere():
    """mid crashes while leaf works for it. leaf did not crash: it finishes its work, and
    holds its worker, until 4.6 s; its answer goes nowhere. mid's side of the call (its
    client span) ends at the crash: mid is gone."""
    result = chain_world("mid").run()
    leaf = span(result, "leaf")
    assert (leaf.end, leaf.status) == (approx(LEAF_ENDS), "ok")
    client = span(result, "mid", kind="client")
    assert (client.operation, client.end, client.status) == ("leaf.go", CRASH, "error")


def test_the_same_holds_for_a_call_with_a_timeout():
    result = chain_world("mid", call={"timeout": 10.0}).run()
    answer = request(result)
    assert (answer.outcome, answer.end) == ("error", CRASH)  # an error, not a timeout
    assert span(result, "leaf").end == approx(LEAF_ENDS)


def test_retries_go_on_from_the_crash():
    """front retries mid every 0.3 s: at 1.3 s mid is still down (refused at once); at
    1.6 s it is back. Its call to leaf (at 2.1 s) waits for leaf's only worker, still
    busy with the orphaned work until 4.6 s, then takes 4 s: the answer comes at 8.6 s."""
    retry = sl.Retry(attempts=3, backoff=0.3)
    result = chain_world("mid", call={"retry": retry}).run()
    attempts = spans_of(result, "front", kind="client").sort_values("start")
    assert attempts.start.tolist() == approx([0.1, 1.3, 1.6])
    assert attempts.end.tolist() == approx([1.0, 1.3, 8.6])
    assert attempts.status.tolist() == ["error", "error", "ok"]
    assert (request(result).outcome, request(result).end) == ("ok", approx(8.6))


def test_a_fallback_answers_at_the_crash():
    result = chain_world("mid", call={"fallback": "sorry"}).run()
    assert (request(result).outcome, request(result).end) == ("ok", CRASH)


def test_the_crashed_service_frees_its_worker_the_orphaned_callee_keeps_its_own():
    """A second request, sent at 1.7 s, finds mid's only worker free at 1.8 s (the crash
    freed it), but waits for leaf's until 4.6 s (the orphaned work holds it)."""
    world = chain_world("mid")
    world.load(sl.Burst(size=1, over=1e-9), target=("front", "go"), start=1.7)
    result = world.run()
    second = result.spans[(result.spans.start > 1.0) & (result.spans.kind == "server")]
    mid, leaf = (second[second.service == name].iloc[0] for name in ("mid", "leaf"))
    assert (mid.start, mid.wait) == (approx(1.8), 0.0)
    assert (leaf.start, leaf.wait) == (approx(2.3), approx(LEAF_ENDS - 2.3))
    assert result.requests.outcome.tolist() == ["error", "ok"]


def test_a_bulkhead_place_is_given_back_when_its_caller_crashes():
    """front's bulkhead lets one call to mid out at a time and one wait. Two requests:
    one calls, one waits for the place; front crashes at 1.0 s. After the restart, a
    third request gets the place at once (none was kept by the dead calls)."""
    bulkhead = sl.Bulkhead(max_concurrent=1, max_waiting=1)
    world = chain_world("front", call={"bulkhead": bulkhead}, front_workers=2)
    world.load(sl.Burst(size=1, over=1e-9), target=("front", "go"), start=0.05)
    world.load(sl.Burst(size=1, over=1e-9), target=("front", "go"), start=RESTART + 5)
    result = world.run()
    first, second, third = result.requests.sort_values("start").itertuples()
    assert (first.outcome, first.end, second.outcome, second.end) == \
        ("error", CRASH, "error", CRASH)
    assert (third.outcome, third.end) == ("ok", approx(RESTART + 5 + 4.6))


# -- consumers


def consumer_world(crash=True, partitions=None):
    """One message published at t = 0; its consumer works on it for 4 s."""
    world = sl.World(seed=1)
    front = world.service("front", workers=1)
    shipping = world.service("shipping", workers=1)
    bus = world.broker("bus", redelivery_delay=0.2)
    bus.topic("orders", partitions=partitions)

    @front.endpoint("order")
    def order(ctx, payload):
        ctx.publish(bus, "orders", payload, key=payload.id)
        yield ctx.work(0)

    @shipping.consumer(bus, "orders")
    def ship(ctx, payload):
        yield ctx.work(4.0)
        ctx.db.write(payload.id, "shipped")

    world.load(sl.Burst(size=1, over=1e-9), target=("front", "order"))
    if crash:
        world.faults.crash("shipping", at=CRASH, duration=RESTART - CRASH)
    return world


@pytest.mark.parametrize("partitions", [None, 2], ids=["shared-queue", "partitioned"])
def test_a_consumer_stops_at_the_crash_and_its_message_is_delivered_again(partitions):
    result = consumer_world(partitions=partitions).run()
    first, again = spans_of(result, "shipping", kind="consumer").sort_values("start") \
        .itertuples()
    assert (first.end, first.status) == (CRASH, "error")
    events = result.messages.sort_values("time")
    assert events.event.tolist() == ["publish", "deliver", "redeliver", "deliver", "ack"]
    assert events.time.tolist()[2] == CRASH  # given up at the crash, not at 4.0 s
    assert again.start >= RESTART and again.status == "ok"
    assert result.message_ledger().state.tolist() == ["acked"]
    assert result.writes[result.writes.service == "shipping"].time.tolist() == \
        [approx(again.start + 4.0)]


# -- sagas


def saga_world():
    """orders runs a saga of two steps, a.do (2 s) then b.do (2 s), from t = 0; orders
    crashes at 1.0 s, during a.do."""
    world = sl.World(seed=1)
    orders = world.service("orders", workers=None)
    saga = sl.Saga([("a", "do", "undo"), ("b", "do", "undo")])
    for name in "ab":
        service = world.service(name, workers=None, work=2.0)

        @service.endpoint("do")
        def do(ctx, order):
            yield ctx.work()

        @service.endpoint("undo")
        def undo(ctx, order):
            yield ctx.work()

    @orders.endpoint("place")
    def place(ctx, order):
        return (yield ctx.saga(saga, order))

    world.load(sl.Burst(size=1, over=1e-9), target=("orders", "place"))
    world.faults.crash("orders", at=CRASH, duration=RESTART - CRASH)
    return world


def test_a_saga_is_abandoned_at_the_crash_of_its_orchestrator():
    result = saga_world().run()
    answer = request(result)
    assert (answer.outcome, answer.end) == ("error", CRASH)
    saga = result.sagas.iloc[0]
    assert (saga.outcome, saga.end) == ("abandoned", CRASH)
    # a did not crash: it finishes the step at 2.0 s, which the ledger counts (nobody
    # will undo it); b is never called.
    assert span(result, "a").end == approx(2.0)
    assert saga.steps_done == 1
    assert saga.inconsistent_for == pytest.approx(result.end_time - 2.0, abs=1e-6)
    assert spans_of(result, "b").empty


# -- properties, over random crash schedules


def random_chain_world(seed):
    """Poisson load through front -> mid -> leaf, random work, a retry and a consumer."""
    world = sl.World(seed=seed)
    front = world.service("front", workers=3, work=sl.Exp(mean=0.05))
    mid = world.service("mid", workers=2, work=sl.Exp(mean=0.1))
    leaf = world.service("leaf", workers=2, work=sl.Exp(mean=0.1))
    bus = world.broker("bus", topics=["done"], redelivery_delay=0.1, max_attempts=10)

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.work()
        yield ctx.call("mid", "go", payload, timeout=1.0, retry=sl.Retry(attempts=2))

    @mid.endpoint("go")
    def mid_go(ctx, payload):
        yield ctx.work()
        yield ctx.call("leaf", "go", payload)
        ctx.publish(bus, "done", payload, key=payload.id)

    @leaf.endpoint("go")
    def leaf_go(ctx, payload):
        yield ctx.work()

    @leaf.consumer(bus, "done")
    def record(ctx, payload):
        yield ctx.work()
        ctx.db.write(payload.id, "recorded")

    world.load(sl.Poisson(rate=15), target=("front", "go"), duration=4.0)
    return world


@st.composite
def crash_schedules(draw):
    schedule = []
    for service in ("front", "mid", "leaf"):
        end_of_last = 0.0
        for _ in range(draw(st.integers(0, 2))):
            at = end_of_last + round(draw(st.floats(0.0, 2.0)), 3)
            duration = round(draw(st.floats(0.01, 1.0)), 3)
            schedule.append((service, at, duration))
            end_of_last = at + duration
    return schedule


@given(seed=st.integers(0, 2**32 - 1), schedule=crash_schedules())
def test_no_work_of_a_crashed_service_outlives_its_crash(seed, schedule):
    """Every span of a service open when it crashed ends at that very instant, in error;
    and nothing is lost: every request has one outcome, every message is acked."""
    world = random_chain_world(seed)
    for service, at, duration in schedule:
        world.faults.crash(service, at=at, duration=duration)
    result = world.run()
    check_no_work_outlives_a_crash(result)
    assert result.requests.outcome.isin(["ok", "error", "timeout"]).all()
    assert result.requests.request_id.is_unique
    assert set(result.message_ledger().state) <= {"acked"}
    recorded = result.writes[result.writes.service == "leaf"]
    published = result.messages[result.messages.event == "publish"]
    assert set(recorded.key) == set(published.key)  # at least once: none lost
