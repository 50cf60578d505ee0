"""Faults (the nemesis): each fault does what it says, only while it lasts; the ledgers
hold whatever faults strike; bad fault schedules and runaway retries are stopped.

Constant work times make most expected times exact; where a fault acts at random
(error injection, message loss) the share is compared with its probability within
Z = 4 binomial standard errors, and the check proves it could tell the probability
from a plausible mistake (see ``assert_binomial``). All runs are seeded.
"""

import math
import re
import warnings

import numpy as np
import pytest
from checks import (assert_binomial, check_no_work_outlives_a_crash, examples,
                    fails_if_it_hangs, spans_of)
from hypothesis import given
from hypothesis import strategies as st

# The request and message ledgers are checked exactly as in test_ledgers.py.
from test_ledgers import MAX_ATTEMPTS, check_message_ledger, check_request_ledger

import simlab as sl

# -- helpers


def between(frame, start, end, column="start"):
    return frame[(frame[column] >= start) & (frame[column] < end)]


def three_services(a_workers=None, work=0.1, timeout=None):
    """``a.go`` calls ``b.get`` (with ``timeout``); ``a.near`` calls ``c.get``. ``b`` and
    ``c`` compute ``work`` (a constant, unless a distribution is given)."""
    world = sl.World(seed=1)
    a = world.service("a", workers=a_workers)
    for name in ("b", "c"):
        leaf = world.service(name, workers=None, work=work)
        leaf.endpoint("get")(compute)

    @a.endpoint("go")
    def go(ctx, payload):
        yield ctx.call("b", "get", payload, timeout=timeout)

    @a.endpoint("near")
    def near(ctx, payload):
        yield ctx.call("c", "get", payload, timeout=timeout)

    return world


def compute(ctx, payload):
    yield ctx.work()


def every(world, target, seconds, until):
    """One request to ``target`` at each multiple of ``seconds`` before ``until``, open
    loop: whatever happens to one request, the next comes on time.

    Each request is its own user, who thinks t seconds, sends at exactly t, and is past
    the end of its load (1.5 t) before it could send again."""
    for k in range(1, math.ceil(until / seconds)):
        world.load(sl.Users(n=1, think=sl.Constant(k * seconds)), target=target,
                   duration=1.5 * k * seconds)


# -- each fault is listed, with its window


def test_every_fault_is_listed_with_its_start_and_end():
    world = three_services()
    bus = world.broker("bus", topics=["t"])
    every(world, ("a", "go"), 1.0, 10)
    world.faults.crash("c", at=1, duration=2)
    world.faults.slowdown("b", at=2, duration=1.5, factor=3)
    world.faults.errors("b", at=2.5, duration=1, probability=0.5)  # another kind: may overlap
    world.faults.partition(["a"], ["b", "c"], at=4, duration=0.5)
    world.faults.message_loss("a", "c", at=5, duration=1, probability=0.1)
    world.faults.broker_outage(bus.name, at=6, duration=2, publishers="buffer")
    faults = world.run().faults
    assert [tuple(row) for row in faults.itertuples(index=False)] == [
        ("crash", "c", 1.0, 3.0),
        ("slowdown", "b", 2.0, 3.5),
        ("errors", "b", 2.5, 3.5),
        ("partition", "a | b+c", 4.0, 4.5),
        ("message_loss", "a <-> c", 5.0, 6.0),
        ("broker_outage", "bus", 6.0, 8.0),
    ]


def test_a_fault_still_going_when_the_run_stops_has_no_end():
    world = three_services()
    every(world, ("a", "go"), 1.0, 10)
    world.faults.slowdown("b", at=2, duration=100)
    world.faults.crash("c", at=50, duration=1)  # never begins: a warning says so
    with pytest.warns(sl.SimlabWarning, match=re.escape(
            "run(until=5): crash('c', at=50, duration=1) would begin after the run stops, "
            "so it never happens")):
        result = world.run(until=5)
    faults = result.faults
    assert faults.fault.tolist() == ["slowdown"]
    assert faults.start.tolist() == [2.0] and faults.end.isna().all()
    said = result.logs[result.logs.level == "warning"]
    assert said.message.str.contains("never happens").tolist() == [True]


def short_load_and_a_late_crash():
    """Three requests (0.5, 1 and 1.5 s; the last load ends at 2.25 s); a crash at 600 s,
    long after everything has drained."""
    world = three_services()
    every(world, ("a", "go"), 0.5, 2)
    world.faults.crash("b", at=600, duration=5)
    return world


def test_a_fault_after_everything_drained_is_played_and_said():
    with pytest.warns(sl.SimlabWarning, match=re.escape(
            "crash('b', at=600, duration=5) begins after the load ended and everything "
            "drained: the run goes on until it ends, at 605 s")):
        result = short_load_and_a_late_crash().run()
    assert result.end_time == 605.0
    assert [tuple(row) for row in result.faults.itertuples(index=False)] == [
        ("crash", "b", 600.0, 605.0)]
    assert (result.logs.level == "warning").sum() == 1
    assert result.summary()["throughput"] == 3 / 2.25  # over the load's time, not 605 s


def test_a_fault_after_the_stop_never_begins_and_is_said():
    with pytest.warns(sl.SimlabWarning, match=r"run\(until=60\): crash\('b', at=600"):
        result = short_load_and_a_late_crash().run(until=60)
    assert result.end_time == 60.0 and result.faults.empty


def test_a_fault_while_work_is_left_is_not_warned_about():
    """The load has ended but a call is still going: the fault matters, no warning."""
    world = three_services(work=1.0)
    every(world, ("a", "go"), 0.5, 0.6)  # one request at 0.5 s; b answers at 1.5 s
    world.faults.crash("b", at=1.0, duration=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = world.run()
    assert result.requests.outcome.tolist() == ["error"]


# -- slowdown and error injection act in their window only


def test_slowdown_multiplies_work_in_its_window():
    world = three_services(work=0.1)
    every(world, ("a", "go"), 0.25, 10)
    world.faults.slowdown("b", at=2.9, duration=4, factor=3)
    spans = spans_of(world.run(), "b")
    inside = between(spans, 2.9, 6.9)  # 3.0, 3.25, ... 6.75
    outside = spans.drop(inside.index)
    assert len(inside) == 16 and len(outside) > 20
    assert np.allclose(inside.duration, 0.3)
    assert np.allclose(outside.duration, 0.1)


def test_errors_fail_requests_with_their_probability_in_their_window_only():
    world = sl.World(seed=5)
    api = world.service("api", workers=None)
    api.endpoint("get")(compute)
    world.load(sl.Poisson(rate=200), target=("api", "get"), duration=30)
    world.faults.errors("api", at=10, duration=10, probability=0.3)
    requests = world.run().requests
    inside = between(requests, 10, 20)
    outside = requests.drop(inside.index)
    assert len(outside) > 3000 and (outside.outcome == "ok").all()
    # A plausible mistake: the probability applied twice (1 - 0.7^2 = 0.51).
    assert_binomial((inside.outcome == "error").sum(), len(inside), 0.3, wrong=0.51,
                    what="injected errors")
    assert inside.reason[inside.outcome == "error"].str.contains("injected error").all()


@pytest.mark.parametrize("kind, extra, effect", [
    ("crash", {}, "error"),
    ("slowdown", {"factor": 3.0}, "slow"),
    ("errors", {"probability": 1.0}, "error"),
    ("partition", {}, "timeout"),
    ("message_loss", {"probability": 1.0}, "timeout"),
])
def test_back_to_back_faults_act_as_one_long_fault(kind, extra, effect):
    """Two faults of one kind on one target, the second starting the instant the first
    ends (0.9 to 2.9 s, 2.9 to 4.9 s): one long fault, from 0.9 to 4.9 s."""
    world = three_services(work=0.1, timeout=1.0)
    every(world, ("a", "go"), 0.5, 6)
    target = (["a"], ["b"]) if kind == "partition" else ("a", "b") \
        if kind == "message_loss" else ("b",)
    for at in (0.9, 2.9):
        getattr(world.faults, kind)(*target, at=at, duration=2.0, **extra)
    requests = world.run().requests
    inside = between(requests, 0.9, 4.9)  # 1.0, 1.5, ... 4.5
    assert len(inside) == 8
    if effect == "slow":
        assert (inside.outcome == "ok").all() and np.allclose(inside.latency, 0.3)
    else:
        assert (inside.outcome == effect).all()
    outside = requests.drop(inside.index)
    assert (outside.outcome == "ok").all() and np.allclose(outside.latency, 0.1)


def test_back_to_back_faults_are_accepted_despite_float_rounding():
    """1.0 + 0.656 is 1.6560000000000001 in floating point; a crash at 1.656 still starts
    the instant the first one ends, and the two act as one crash."""
    world = three_services(work=0.1)
    every(world, ("a", "go"), 0.25, 4)
    world.faults.crash("b", at=1.0, duration=0.656)
    world.faults.crash("b", at=1.656, duration=1.0)
    result = world.run()
    assert result.faults.start.tolist() == [1.0, 1.656]
    requests = result.requests
    inside = between(requests, 1.0, 2.656)  # 1.0, 1.25, ... 2.5
    assert len(inside) == 7 and (inside.outcome == "error").all()
    assert (requests.drop(inside.index).outcome == "ok").all()


# -- network partition


def test_a_call_across_a_partition_without_timeout_never_returns():
    """The packet is gone, so the caller waits for ever, holding its only worker: every
    later request to ``a`` waits behind it, even after the partition has healed."""
    world = three_services(a_workers=1, work=0.1)
    every(world, ("a", "go"), 0.5, 6)
    world.faults.partition(["a"], ["b", "c"], at=1.75, duration=1)
    result = world.run()
    requests = result.requests
    before = requests[requests.start < 1.75]
    after = requests[requests.start >= 1.75]
    assert len(before) == 3 and (before.outcome == "ok").all()
    assert len(after) == 8 and (after.outcome == "in_flight").all()
    # The first one lost its call (b never heard of it) and holds a's worker; the rest
    # never got a worker, so never made a call at all.
    stuck = after.trace_id.iloc[0]
    client = spans_of(result, "a", "client")
    assert client.set_index("trace_id").status[stuck] == "in_flight"
    assert stuck not in set(spans_of(result, "b").trace_id)
    assert len(client[client.trace_id.isin(after.trace_id)]) == 1


def test_a_call_across_a_partition_with_a_timeout_times_out():
    world = three_services(work=0.1, timeout=0.5)
    every(world, ("a", "go"), 0.25, 6)
    world.faults.partition(["a"], ["b"], at=1.9, duration=2)
    result = world.run()
    requests = result.requests
    inside = between(requests, 1.9, 3.9)  # 2.0, 2.25, ... 3.75
    assert len(inside) == 8 and (inside.outcome == "timeout").all()
    assert np.allclose(inside.latency, 0.5)
    assert (requests.drop(inside.index).outcome == "ok").all()
    assert not set(spans_of(result, "b").trace_id) & set(inside.trace_id)


def test_calls_within_one_side_of_a_partition_are_unaffected():
    world = three_services(a_workers=None, work=0.1)
    every(world, ("a", "near"), 0.25, 6)
    every(world, ("a", "go"), 0.25, 6)
    world.faults.partition(["a", "c"], ["b"], at=1.9, duration=2)
    requests = world.run().requests
    near = requests[requests.endpoint == "near"]
    assert len(near) == 23 and (near.outcome == "ok").all() and np.allclose(near.latency, 0.1)
    # ... while the calls across it (same times, same work) are lost: the check has teeth.
    across = between(requests[requests.endpoint == "go"], 1.9, 3.9)
    assert len(across) == 8 and (across.outcome == "in_flight").all()


@pytest.mark.parametrize("timeout, lost", [
    (None, "in_flight"),
    (5.0, "timeout"),
])
def test_the_answer_of_a_call_in_progress_is_lost_when_a_partition_begins(timeout, lost):
    # The call starts at 0.5 s, before the partition; b answers at 1.5 s, during it.
    world = three_services(work=1.0, timeout=timeout)
    every(world, ("a", "go"), 0.5, 0.6)
    world.faults.partition(["a"], ["b"], at=1.0, duration=2.0)
    result = world.run()
    assert spans_of(result, "b").status.tolist() == ["ok"]  # b did the work
    assert result.requests.outcome.tolist() == [lost]        # but its answer never came
    calls = result.spans[result.spans.kind == "client"]     # nor ended the caller's side
    assert calls.status.tolist() == [lost] and calls.end.isna().all() == (timeout is None)


# -- message loss


def test_message_loss_loses_each_hop_with_its_probability():
    world = three_services(work=0.01, timeout=0.05)
    world.load(sl.Poisson(rate=200), target=("a", "go"), duration=20)
    world.faults.message_loss("a", "b", at=0, duration=100, probability=0.2)
    result = world.run()
    requests = result.requests
    calls = len(requests)
    reached = set(spans_of(result, "b").trace_id)
    # Lost on the way there: b never saw the call. A plausible mistake would be one draw
    # per call instead of per hop, losing the way there with 1 - 0.8^2 = 0.36.
    there = (~requests.trace_id.isin(reached)).sum()
    assert_binomial(there, calls, 0.2, wrong=0.36, what="lost on the way there")
    # Lost on the way back: b answered, the caller never heard.
    arrived = requests[requests.trace_id.isin(reached)]
    back = (arrived.outcome == "timeout").sum()
    assert_binomial(back, len(arrived), 0.2, wrong=0.36, what="lost on the way back")
    # Every loss, and only a loss, is a timeout.
    assert (requests.outcome == "timeout").sum() == there + back
    assert set(requests.outcome) == {"ok", "timeout"}


# -- broker outage


def publishing_world(publishers, catch=False, outages=((2.9, 4.0),)):
    """``orders.place`` publishes each order on ``bus``/``orders``; ``shipping`` consumes
    them. With ``catch``, ``orders.safe`` catches a refused publish and answers anyway.
    The broker is out during each of ``outages``, (at, duration) pairs."""
    world = sl.World(seed=1)
    orders = world.service("orders", workers=None)
    shipping = world.service("shipping", workers=1, work=0.05)
    bus = world.broker("bus", topics=["orders"])

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        ctx.publish(bus, "orders", order)

    @orders.endpoint("safe")
    def safe(ctx, order):
        yield ctx.work()
        try:
            ctx.publish(bus, "orders", order)
        except sl.CallError as error:
            ctx.log(f"published later: {error}")

    @shipping.consumer(bus, "orders")
    def ship(ctx, order):
        yield ctx.work()

    every(world, ("orders", "safe" if catch else "place"), 0.25, 10)
    for at, duration in outages:
        world.faults.broker_outage("bus", at=at, duration=duration, publishers=publishers)
    return world.run()


OUTAGE = (2.9, 6.9)  # requests at 3.0, 3.25, ... 6.75 meet the broker down: 16 of them


def messages(result, event):
    return result.messages[result.messages.event == event]


def test_a_broker_outage_with_fail_makes_publishes_fail():
    result = publishing_world("fail")
    requests = result.requests
    inside = between(requests, *OUTAGE)
    assert len(inside) == 16
    assert (inside.outcome == "error").all()
    assert inside.reason.str.contains("broker bus is down").all()
    assert (requests.drop(inside.index).outcome == "ok").all()
    # Nothing was published during the outage; everything else was delivered.
    published = messages(result, "publish")
    assert len(between(published, *OUTAGE, "time")) == 0
    assert len(published) == len(requests) - 16
    assert (result.message_ledger().state == "acked").all()


def test_a_handler_may_catch_a_refused_publish():
    result = publishing_world("fail", catch=True)
    assert (result.requests.outcome == "ok").all()
    assert result.logs.message.str.startswith("published later").sum() == 16


def test_a_broker_outage_with_buffer_publishes_at_the_restore_time():
    result = publishing_world("buffer")
    requests = result.requests
    assert (requests.outcome == "ok").all()
    published = messages(result, "publish")
    assert len(published) == len(requests)  # nothing lost ...
    made = between(requests, *OUTAGE).trace_id
    held = published[published.trace_id.isin(made)].sort_values("message_id")
    assert len(held) == 16 and (held.time == 6.9).all()  # ... but held until 6.9 s,
    assert held.trace_id.tolist() == made.tolist()       # and sent in the order made
    # Nothing is delivered while the broker is down; then the backlog drains, one
    # message every 0.05 s.
    delivered = messages(result, "deliver")
    assert len(between(delivered, *OUTAGE, "time")) == 0
    assert len(between(delivered, 6.9, 7.375, "time")) == 10  # 6.9, 6.95, ... 7.35
    assert (result.message_ledger().state == "acked").all()


def test_back_to_back_broker_outages_are_one_long_outage():
    result = publishing_world("buffer", outages=((2.9, 2.0), (4.9, 2.0)))
    assert (result.requests.outcome == "ok").all()
    assert len(between(messages(result, "deliver"), *OUTAGE, "time")) == 0
    assert len(messages(result, "publish")) == len(result.requests)
    assert (result.message_ledger().state == "acked").all()


@pytest.mark.parametrize("partitions", [
    None,
    (1),
], ids=["shared-queue", "partitioned"])
def test_nothing_is_delivered_during_an_outage_not_even_a_redelivery(partitions):
    world = sl.World(seed=1)
    orders = world.service("orders", workers=None)
    shipping = world.service("shipping", workers=1, work=0.1)
    bus = world.broker("bus", redelivery_delay=1.0)
    bus.topic("orders", partitions=partitions)
    failed = set()

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        ctx.publish(bus, "orders", order, key=order.id)

    @shipping.consumer(bus, "orders")
    def ship(ctx, order):
        yield ctx.work()
        if order.id not in failed:  # the first delivery fails
            failed.add(order.id)
            raise sl.ServiceError("not yet")

    every(world, ("orders", "place"), 0.5, 0.6)  # one order, at 0.5 s
    world.faults.broker_outage("bus", at=1.0, duration=2.0)
    result = world.run()
    # Delivered at 0.5 s, failed at 0.6 s; the redelivery is due at 1.6 s, in the outage.
    deliveries = messages(result, "deliver").time.tolist()
    assert deliveries == [0.5, 3.0]


# -- random schedules


def random_crashes(seed, count=5, kind="crash"):
    world = sl.World(seed=seed)
    for name in ("a", "b"):
        world.service(name, workers=None).endpoint("get")(compute)
    world.load(sl.Poisson(rate=1), target=("a", "get"), duration=25)
    world.faults.random(kind, ["a", "b"], count=count, duration=(0.5, 2.0), within=(0.0, 20.0))
    return world.run().faults


def test_random_faults_are_seeded():
    first, again, other = random_crashes(1), random_crashes(1), random_crashes(2)
    assert len(first) > 3
    assert first.equals(again)
    assert not first[["start", "end"]].equals(other[["start", "end"]])


def test_random_faults_never_overlap_on_one_target():
    skipped = 0
    for seed in range(30):
        faults = random_crashes(seed)
        for target, one in faults.groupby("target"):
            one = one.sort_values("start")
            assert (one.start.to_numpy()[1:] >= one.end.to_numpy()[:-1]).all(), (seed, target)
            assert one.start.between(0, 20).all()
            assert (one.end - one.start).between(0.5 - 1e-9, 2.0 + 1e-9).all()
            skipped += 5 - len(one)
    # Five faults of up to 2 s in 20 s often collide: the rule was really exercised.
    assert skipped > 10


def test_two_random_schedules_are_independent():
    world = sl.World(seed=1)
    for name in ("a", "b"):
        world.service(name, workers=None).endpoint("get")(compute)
    world.load(sl.Poisson(rate=1), target=("a", "get"), duration=25)
    world.faults.random("crash", ["a"], count=3, within=(0.0, 20.0))
    world.faults.random("crash", ["b"], count=3, within=(0.0, 20.0))
    faults = world.run().faults
    a, b = (faults[faults.target == name] for name in ("a", "b"))
    assert len(a) > 0 and len(b) > 0
    assert set(a.start).isdisjoint(b.start)


def test_a_random_schedule_does_not_overlap_fixed_faults():
    world = three_services(work=0.1)
    every(world, ("a", "go"), 0.5, 30)
    world.faults.slowdown("b", at=0, duration=30, factor=4)
    world.faults.random("slowdown", ["b"], count=2, duration=(1.0, 2.0), within=(5.0, 20.0),
                        factor=4)
    result = world.run()
    # Either the random ones were dropped, or (at the least) the fixed slowdown holds
    # for its whole 30 s.
    slow = spans_of(result, "b")
    assert np.allclose(slow[slow.start < 30].duration, 0.4)


# -- the ledgers hold whatever faults strike


SERVICES = ("front", "stock", "pay", "ship", "mail", "books")
CHECKOUT = sl.Saga([("pay", "charge", "refund"), ("stock", "reserve", "release")], timeout=0.2)


def faulty_shop(seed):
    """A small shop with every way to end: a bounded queue, a call with timeout and
    retry, a saga, two topics (one partitioned), a consumer that fails now and then, and
    an outbox (front records each order with its event on "placed", which books reads).
    Every synchronous call has a timeout, so no fault can leave one hanging for ever."""
    world = sl.World(seed=seed)
    front = world.service("front", workers=3, queue=4, work=sl.Exp(mean=0.01))
    pay = world.service("pay", workers=2, work=sl.Exp(mean=0.02), error_rate=0.05)
    stock = world.service("stock", workers=2, work=sl.Exp(mean=0.02), error_rate=0.05)
    ship = world.service("ship", workers=2, work=sl.Exp(mean=0.03))
    mail = world.service("mail", workers=1, work=sl.Exp(mean=0.02), error_rate=0.3)
    books = world.service("books", workers=1, work=sl.Exp(mean=0.01))
    bus = world.broker("bus", topics=["orders", "placed"], max_attempts=MAX_ATTEMPTS,
                       redelivery_delay=0.1)
    bus.topic("audit", partitions=2)

    @front.endpoint("order")
    def order(ctx, payload):
        yield ctx.work()
        yield ctx.call("pay", "quote", payload, timeout=0.1, retry=sl.Retry(attempts=2))
        outcome = yield ctx.saga(CHECKOUT, payload)
        ctx.db.write(payload.id, outcome)                   # the order, and atomically
        ctx.outbox(bus, "placed", payload, key=payload.id)  # its event
        if outcome == "completed":
            ctx.publish(bus, "orders", payload, key=payload.id)
        ctx.publish(bus, "audit", payload, key=payload.id % 3)

    for endpoint in ("quote", "charge", "refund"):
        pay.endpoint(endpoint)(compute)
    for endpoint in ("reserve", "release"):
        stock.endpoint(endpoint)(compute)
    ship.consumer(bus, "orders", group="shipping")(compute)
    ship.consumer(bus, "audit", group="audit")(compute)
    mail.consumer(bus, "orders", group="mail")(compute)
    books.consumer(bus, "placed", group="books")(compute)
    world.load(sl.Poisson(rate=40), target=("front", "order"), duration=LOAD_SECONDS)
    return world


LOAD_SECONDS = 6.0
KINDS = ("crash", "slowdown", "errors", "partition", "message_loss", "broker_outage")


@st.composite
def fault_mixes(draw):
    """Up to 6 faults of any kinds, on any targets; faults of one kind on one target
    follow one another (a gap of 0 allowed) so that the schedule is valid."""
    faults, free_from = [], {}
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(KINDS))
        if kind == "partition":
            side = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=4,
                                 unique=True))
            rest = [s for s in SERVICES if s not in side]
            target = (tuple(side), tuple(draw(st.lists(st.sampled_from(rest), min_size=1,
                                                       max_size=len(rest), unique=True))))
        elif kind == "message_loss":
            target = tuple(draw(st.lists(st.sampled_from(SERVICES), min_size=2, max_size=2,
                                         unique=True)))
        elif kind == "broker_outage":
            target = "bus"
        else:
            target = draw(st.sampled_from(SERVICES))
        at = free_from.get((kind, target), 0.0) + draw(st.sampled_from([0.0, 0.3, 1.0, 2.5]))
        duration = draw(st.sampled_from([0.05, 0.5, 1.5]))
        free_from[(kind, target)] = at + duration
        extra = {
            "slowdown": {"factor": draw(st.sampled_from([0.5, 5.0, 50.0]))},
            "errors": {"probability": draw(st.sampled_from([0.0, 0.4, 1.0]))},
            "message_loss": {"probability": draw(st.sampled_from([0.3, 1.0]))},
            "broker_outage": {"publishers": draw(st.sampled_from(["fail", "buffer"]))},
        }.get(kind, {})
        faults.append((kind, target, at, duration, extra))
    return faults


def add_fault(world, kind, target, at, duration, extra):
    add = getattr(world.faults, kind)
    if kind in ("partition", "message_loss"):
        return add(*target, at=at, duration=duration, **extra)
    return add(target, at=at, duration=duration, **extra)


def check_outbox(result, stopped_early):
    """Every order front wrote has its event on "placed", published once and never before
    the write; in a drained run, none is still in the outbox."""
    written = result.writes[result.writes.service == "front"].set_index("key").time
    published = result.messages[(result.messages.event == "publish")
                                & (result.messages.topic == "placed")].set_index("key").time
    assert published.index.is_unique and written.index.is_unique
    assert set(published.index) <= set(written.index)
    assert (published >= written[published.index]).all()
    if not stopped_early:
        assert set(published.index) == set(written.index)


def check_saga_ledger(result, stopped_early):
    sagas = result.sagas
    assert sagas.saga_id.tolist() == list(range(1, len(sagas) + 1))
    assert set(sagas.outcome) <= {"completed", "compensated", "stuck", "abandoned", "pending"}
    assert ((sagas.outcome == "pending") == sagas.end.isna()).all()
    if not stopped_early:  # pending means "still running when the run stopped": none here
        assert (sagas.outcome != "pending").all()
    # Abandoned only by a crash of the orchestrator (front), at the instant it went down.
    abandoned = sagas[sagas.outcome == "abandoned"]
    crashes = result.faults[(result.faults.fault == "crash") & (result.faults.target == "front")]
    assert abandoned.end.isin(crashes.start).all()
    assert (abandoned.start <= abandoned.end).all()
    # One saga per request at most, run by the entry service.
    assert sagas.trace_id.is_unique
    assert set(sagas.trace_id) <= set(result.requests.trace_id)
    # Completed: every step done; otherwise the step that failed is named.
    completed = sagas[sagas.outcome == "completed"]
    assert (completed.steps_done == 2).all() and (completed.failed_step == "").all()
    undone = sagas[sagas.outcome.isin(["compensated", "stuck"])]
    # (An abandoned saga may have both steps done: its orchestrator crashed while the
    # last one was in flight, and the step, on a service that did not crash, ran on.)
    assert (sagas.steps_done[sagas.outcome == "abandoned"] <= 2).all()
    assert (undone.steps_done < 2).all()
    assert undone.failed_step.isin(["pay.charge", "stock.reserve"]).all()
    assert (sagas.inconsistent_for >= 0).all()


@pytest.mark.filterwarnings("ignore::simlab.SimlabWarning")  # faults drawn past the stop
@examples(25)
@given(seed=st.integers(0, 2**32 - 1), faults=fault_mixes(),
       until=st.one_of(st.none(), st.floats(1.0, LOAD_SECONDS + 1.0)))
def test_ledgers_hold_under_any_mix_of_faults(seed, faults, until):
    world = faulty_shop(seed)
    for fault in faults:
        add_fault(world, *fault)
    result = world.run(until=until)
    stopped_early = until is not None
    check_request_ledger(result, stopped_early)
    check_message_ledger(result, stopped_early)
    check_saga_ledger(result, stopped_early)
    check_outbox(result, stopped_early)
    check_no_work_outlives_a_crash(result)
    # Every fault that began before the end is listed, in order of start (ties in the
    # order they were scheduled); it has an end if it ended.
    began = sorted((f for f in faults if until is None or f[2] < until), key=lambda f: f[2])
    assert result.faults.fault.tolist() == [f[0] for f in began]
    # (A fault due to end at the very instant the run stops has not ended: the stop
    # comes first.)
    ended = result.faults.end.notna()
    due = result.faults.start + [f[3] for f in began]
    assert (ended == (due < result.end_time) | (until is None)).all()


def test_a_saga_whose_orchestrator_crashed_is_abandoned_not_pending():
    """front crashes at 0.3 s while two sagas wait on their first step (pay.charge):
    nobody is left to finish or undo them. The run drains, and no saga is left "pending"."""
    world = faulty_shop(seed=0)
    world.faults.crash("front", at=0.3, duration=0.05)
    result = world.run()
    check_saga_ledger(result, stopped_early=False)
    abandoned = result.sagas[result.sagas.outcome == "abandoned"]
    assert len(abandoned) == 2 and (abandoned.end == 0.3).all()
    # pay did not crash: it finishes the charge, although nobody hears its answer; stock
    # is never reserved ...
    assert (abandoned.steps_done == 1).all()
    # ... and the money stays taken: inconsistent from the charge to the end of the run.
    charges = spans_of(result, "pay").query("operation == 'charge'").set_index("trace_id")
    charged = charges.end[abandoned.trace_id].to_numpy()
    assert np.allclose(abandoned.inconsistent_for, result.end_time - charged)
    assert (charged > 0.3).all()
    said = result.logs.message.str.startswith("saga abandoned: front crashed during pay.charge, "
                                              "with 0 step(s) done")
    assert said.sum() == 2


def test_the_fault_mix_really_reaches_every_kind_of_ending():
    """The property above would be weak if the shop never got into trouble: one mix of
    faults shows each kind of ending it is meant to survive (seed 18: found by trying
    seeds in order, since timed-out saga steps are compensated too)."""
    world = faulty_shop(seed=18)
    for fault in [
        # stock 50 times slower: reservations time out and are compensated ...
        ("slowdown", "stock", 1.5, 1.5, {"factor": 50.0}),
        # ... but from 2 s pay is down, so refunds of charges made just before fail
        # (5 attempts over 1.5 s): stuck; and quotes fail (errors), front fills up
        # with waiting compensations (rejections)
        ("crash", "pay", 2.0, 2.0, {}),
        ("message_loss", ("front", "pay"), 4.0, 0.5, {"probability": 0.3}),  # timeouts
        ("broker_outage", "bus", 4.2, 0.5, {"publishers": "fail"}),
        ("slowdown", "ship", 0.0, 6.0, {"factor": 5.0}),  # a backlog: pending at the end
    ]:
        add_fault(world, *fault)
    result = world.run(until=4.6)
    assert {"ok", "error", "timeout", "rejected", "in_flight"} <= set(result.requests.outcome)
    assert {"acked", "dead_lettered", "pending"} <= set(result.message_ledger().state)
    assert {"completed", "compensated", "stuck", "pending"} <= set(result.sagas.outcome)
    check_request_ledger(result, stopped_early=True)
    check_message_ledger(result, stopped_early=True)
    check_saga_ledger(result, stopped_early=True)
    check_outbox(result, stopped_early=True)


# -- bad fault schedules and policies are refused when the model is built


def shop_for_faults():
    world = three_services()
    world.broker("bus", topics=["t"])
    return world


def faults():
    return shop_for_faults().faults


def overlapping_slowdowns():
    schedule = faults()
    schedule.slowdown("b", at=1, duration=2)
    schedule.slowdown("b", at=2.5, duration=1)


BAD_SCHEDULES = {  # test id: (what the learner wrote, what the message must say)
    "crash-unknown": (lambda: faults().crash("bb", at=1, duration=1),
                      "crash: unknown service 'bb'"),
    "slowdown-unknown": (lambda: faults().slowdown("bb", at=1, duration=1),
                         "slowdown: unknown service 'bb'"),
    "errors-unknown": (lambda: faults().errors("bb", at=1, duration=1),
                       "errors: unknown service 'bb'"),
    "partition-unknown": (lambda: faults().partition(["a"], ["bb"], at=1, duration=1),
                          "partition: unknown service 'bb'"),
    "loss-unknown": (lambda: faults().message_loss("a", "bb", at=1, duration=1),
                     "message_loss: unknown service 'bb'"),
    "outage-unknown": (lambda: faults().broker_outage("buss", at=1, duration=1),
                       r"broker_outage: unknown broker 'buss'; known brokers: \['bus'\]"),
    "overlap": (overlapping_slowdowns,
                re.escape("slowdown('b', at=2.5, duration=1) overlaps "
                          "slowdown('b', at=1, duration=2)")),
    "duration-zero": (lambda: faults().slowdown("b", at=1, duration=0),
                      "slowdown: duration must be a positive number of seconds, got 0"),
    "duration-negative": (lambda: faults().errors("b", at=1, duration=-2),
                          "errors: duration must be a positive"),
    "at-negative": (lambda: faults().partition(["a"], ["b"], at=-1, duration=1),
                    "partition: at must be a non-negative"),
    "errors-probability": (lambda: faults().errors("b", at=1, duration=1, probability=1.5),
                           "errors: probability must be a number between 0 and 1, got 1.5"),
    "loss-probability": (lambda: faults().message_loss("a", "b", at=1, duration=1,
                                                       probability=-0.1),
                         "message_loss: probability must be a number between 0 and 1"),
    "factor-zero": (lambda: faults().slowdown("b", at=1, duration=1, factor=0),
                    "slowdown: factor must be a positive number, got 0"),
    "factor-negative": (lambda: faults().slowdown("b", at=1, duration=1, factor=-2),
                        "slowdown: factor must be a positive number"),
    "partition-empty": (lambda: faults().partition([], ["b"], at=1, duration=1),
                        "partition: give two non-empty groups"),
    "partition-overlap": (lambda: faults().partition(["a", "b"], ["b"], at=1, duration=1),
                          r"no service in both; got \['a', 'b'\] and \['b'\]"),
    "outage-mode": (lambda: faults().broker_outage("bus", at=1, duration=1, publishers="drop"),
                    "publishers must be 'fail' or 'buffer', got 'drop'"),
    "random-kind": (lambda: faults().random("partition", ["a"]),
                    "random faults: kind must be 'crash' or 'slowdown', got 'partition'"),
    "random-target": (lambda: faults().random("crash", ["a", "zz"]),
                      "random faults: unknown service 'zz'"),
    "random-duration-zero": (lambda: faults().random("crash", ["a"], duration=(0, 1)),
                             r"random faults: duration must be a \(low, high\) pair of "
                             "positive numbers"),
    "random-duration-reversed": (lambda: faults().random("crash", ["a"], duration=(2, 1)),
                                 r"duration must be a \(low, high\) pair .* low <= high.*, "
                                 r"got \(2, 1\)"),
    "random-within-reversed": (lambda: faults().random("crash", ["a"], within=(10, 5)),
                               r"within must be a \(low, high\) pair .*, got \(10, 5\)"),
    "random-within-negative": (lambda: faults().random("crash", ["a"], within=(-1, 5)),
                               r"random faults: within must be a \(low, high\) pair of "
                               "non-negative"),
    "retry-attempts": (lambda: sl.Retry(attempts=0),
                       "Retry: attempts must be a whole number, 1 or more, got 0"),
    "retry-jitter": (lambda: sl.Retry(jitter="fuzzy"), "Retry: unknown jitter 'fuzzy'"),
    "retry-budget": (lambda: sl.Retry(budget=-0.1), "Retry: budget must be"),
    "backoff-factor": (lambda: sl.Exponential(0.1, factor=0.5),
                       "Exponential: factor must be a number, 1 or more"),
    "breaker-minimum": (lambda: sl.CircuitBreaker(minimum_calls=30, window=20),
                        r"minimum_calls \(30\) cannot exceed window \(20\)"),
    "breaker-rate": (lambda: sl.CircuitBreaker(failure_rate=0),
                     "CircuitBreaker: failure_rate must be a number above 0, at most 1"),
    "bulkhead-zero": (lambda: sl.Bulkhead(max_concurrent=0),
                      "Bulkhead: max_concurrent must be a whole number, 1 or more"),
    "bucket-rate": (lambda: sl.TokenBucket(rate=0), "TokenBucket: rate must be"),
}


@pytest.mark.parametrize("make, match", BAD_SCHEDULES.values(), ids=BAD_SCHEDULES.keys())
def test_bad_faults_and_policies_are_refused_with_their_name(make, match):
    with pytest.raises(sl.ModelError, match=match):
        make()


def test_faults_of_different_kinds_or_targets_may_overlap():
    """The overlap rule is about one kind on one target only (so the check above is not
    simply refusing everything)."""
    schedule = faults()
    schedule.slowdown("b", at=1, duration=2)
    schedule.slowdown("c", at=1, duration=2)
    schedule.errors("b", at=1, duration=2)
    schedule.slowdown("b", at=3, duration=1)  # starts the instant the first one ends
    assert len(schedule.scheduled) == 4


@pytest.mark.parametrize("extra", [
    pytest.param({"count": -1}, id="count-negative"),
    pytest.param({"count": 2.5}, id="count-fraction"),
    pytest.param({"factor": 0}, id="factor-zero"),
    pytest.param({"factor": -2}, id="factor-negative"),
])
def test_random_faults_refuse_a_bad_count_or_factor(extra):
    with pytest.raises(sl.ModelError, match="random faults"):
        faults().random("slowdown", ["b"], **extra)


@pytest.mark.parametrize("policy, match", [
    ({"retry": 3}, r"retry must be an sl\.Retry\(\.\.\.\), got 3"),
    ({"breaker": sl.Retry()}, r"breaker must be an sl\.CircuitBreaker"),
    ({"bulkhead": 4}, r"bulkhead must be an sl\.Bulkhead"),
])
def test_a_policy_of_the_wrong_type_is_named(policy, match):
    world = sl.World(seed=1)
    front = world.service("front", workers=None)
    world.service("back", workers=None).endpoint("get")(compute)

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.call("back", "get", payload, **policy)

    world.load(sl.Poisson(rate=10), target=("front", "go"), duration=1)
    with pytest.raises(sl.ModelError, match=r"ctx\.call\('back', 'get'\): " + match):
        world.run()


# -- runaway retries stop at a run limit


def huge_retry_world(work, crashed):
    """``front`` calls ``back`` with a million attempts and no backoff; ``back`` fails
    every request after ``work`` seconds (or is down for good, if ``crashed``)."""
    world = sl.World(seed=1, max_events=100_000, max_seconds=0.5)
    front = world.service("front", workers=None)
    back = world.service("back", workers=None, work=work, error_rate=1.0)
    back.endpoint("get")(compute)

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.call("back", "get", payload, retry=sl.Retry(attempts=10**6))

    world.load(sl.Poisson(rate=10), target=("front", "go"), duration=5)
    if crashed:
        world.faults.crash("back", at=0, duration=100)
    return world


def test_a_huge_retry_against_a_failing_service_stops_at_a_limit():
    world = huge_retry_world(work=0.001, crashed=False)
    with fails_if_it_hangs(10), pytest.raises(sl.RunLimitError, match="retry storm|wall-clock"):
        world.run()


@pytest.mark.parametrize("crashed", [False, True], ids=["zero-work-errors", "crashed"])
def test_a_huge_retry_failing_in_no_time_stops_at_a_limit(crashed):
    world = huge_retry_world(work=0.0, crashed=crashed)
    with fails_if_it_hangs(2), pytest.raises(sl.RunLimitError):
        world.run()
