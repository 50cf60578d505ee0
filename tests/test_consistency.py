"""Consistency: read models lag behind their source, and simlab measures by how much.

A *source* service (``orders``) writes its store and publishes an event; a *read model*
(a consumer declared with ``view_of="orders"``) applies the event to its own store.
``result.consistency`` says, for every source write and every view, when the view first
held that version (``visible``) and how long that took (``lag``); ``result.reads`` says
whether a read of a view missed a newer source version (a *stale read*).

Most tests below use constant work times, so the expected numbers follow from
arithmetic that the comments spell out. All times are simulated seconds.
"""

import math

import numpy as np
import pytest
from checks import examples
from hypothesis import given
from hypothesis import strategies as st

import simlab as sl

SOURCE_WORK = 0.1  # seconds orders computes before it writes and publishes
VIEW_WORK = 0.2    # seconds a read model takes to apply one event


# -- small builders


def one_request_at(world, target, at=1.0):
    """Exactly one request, at t = ``at``.

    One user thinks ``at`` seconds, sends, waits for the answer and thinks ``at``
    seconds again: by then it is past 2 * at, beyond the load's end (1.5 * at), so the
    user sends nothing more.
    """
    world.load(sl.Users(n=1, think=sl.Constant(at)), target=target, duration=1.5 * at)


def orders_and_views(keys=lambda order: [order.id], views=("view",), view_work=VIEW_WORK,
                     view_workers=1, seed=1):
    """``orders.save`` writes every key in ``keys(order)``, publishing one event per write
    (the event's payload is the key); each service in ``views`` is a read model of orders
    that applies the event after ``view_work`` seconds."""
    world = sl.World(seed=seed)
    orders = world.service("orders", workers=None, work=sl.Constant(SOURCE_WORK))
    bus = world.broker("bus", topics=["order-events"])

    @orders.endpoint("save")
    def save(ctx, order):
        yield ctx.work()
        for key in keys(order):
            ctx.db.write(key, "saved")
            ctx.publish(bus, "order-events", key, key=key)

    for name in views:
        view = world.service(name, workers=view_workers, work=sl.Constant(view_work))

        @view.consumer(bus, "order-events", view_of="orders")
        def apply(ctx, key):
            yield ctx.work()
            ctx.db.write(key, "saved")

    return world


def lags(result):
    return result.consistency.lag.tolist()


# -- lag is exact in constructed cases


def test_one_write_shows_after_the_view_work():
    # Written at 1.0 + 0.1; the idle view applies it 0.2 s later.
    world = orders_and_views()
    one_request_at(world, ("orders", "save"), at=1.0)
    consistency = world.run().consistency
    assert len(consistency) == 1
    row = consistency.iloc[0]
    assert row.written == pytest.approx(1.1)
    assert row.visible == pytest.approx(1.3)
    assert row.lag == pytest.approx(VIEW_WORK)
    assert row.state == "visible"


def test_two_events_queue_behind_one_consumer():
    # Both written at 1.1; one consumer applies the first at 1.3, the second at 1.5.
    world = orders_and_views(keys=lambda order: ["a", "b"])
    one_request_at(world, ("orders", "save"))
    assert lags(world.run()) == pytest.approx([VIEW_WORK, 2 * VIEW_WORK])


def test_two_consumers_apply_two_events_side_by_side():
    # The same two events, but the view has two workers (two consumers): no queueing.
    world = orders_and_views(keys=lambda order: ["a", "b"], view_workers=2)
    one_request_at(world, ("orders", "save"))
    assert lags(world.run()) == pytest.approx([VIEW_WORK, VIEW_WORK])


def test_spaced_requests_never_queue():
    # One user, 1 s think time: requests at 1.0, 2.1, 3.2, 4.3 (each takes 0.1 s). The
    # view needs 0.2 s per event, far less than the 1.1 s between them: lag is always 0.2.
    world = orders_and_views()
    world.load(sl.Users(n=1, think=sl.Constant(1.0)), target=("orders", "save"), duration=4.5)
    result = world.run()
    assert result.requests.start.tolist() == pytest.approx([1.0, 2.1, 3.2, 4.3])
    assert lags(result) == pytest.approx([VIEW_WORK] * 4)


def test_a_burst_onto_one_consumer_follows_the_queue_arithmetic():
    # 20 requests at random instants within 1 s, one view consumer (first come, first
    # served). Each event is applied 0.2 s after the later of (its write, the previous
    # event's application): v[i] = max(w[i], v[i-1]) + 0.2 (Lindley's recursion).
    world = orders_and_views()
    world.load(sl.Burst(size=20, over=1.0), target=("orders", "save"))
    consistency = world.run().consistency.sort_values("written")
    expected, previous = [], -math.inf
    for written in consistency.written:
        previous = max(written, previous) + VIEW_WORK
        expected.append(previous)
    assert consistency.visible.tolist() == pytest.approx(expected)
    assert consistency.lag.max() > 2 * VIEW_WORK  # the burst really queued


def test_summary_lag_percentiles_come_from_the_consistency_table():
    world = orders_and_views(keys=lambda order: ["a", "b", "c"])
    one_request_at(world, ("orders", "save"))
    summary = world.run().summary()
    # Lags 0.2, 0.4, 0.6: the median is 0.4.
    assert summary.lag_p50 == pytest.approx(0.4)
    assert summary.pending_writes == 0


# -- pending writes are listed, never dropped


def test_a_stopped_run_lists_unapplied_writes_as_pending():
    # Three events written at 1.1 onto one consumer: applied at 1.3, 1.5, 1.7.
    # Stopped at 1.4, only the first is visible; the other two are pending, in both views.
    world = orders_and_views(keys=lambda order: ["a", "b", "c"], views=("view", "search"))
    one_request_at(world, ("orders", "save"))
    result = world.run(until=1.4)
    consistency = result.consistency
    source_writes = result.writes[result.writes.service == "orders"]
    assert len(source_writes) == 3
    assert len(consistency) == len(source_writes) * 2  # every write, once per view
    for view in ("view", "search"):
        rows = consistency[consistency.view == view].set_index("key")
        assert rows.state.to_dict() == {"a": "visible", "b": "pending", "c": "pending"}
        assert rows.lag["a"] == pytest.approx(VIEW_WORK)
        assert rows.visible[["b", "c"]].isna().all() and rows.lag[["b", "c"]].isna().all()
    assert result.summary().pending_writes == 4


def test_a_run_stopped_before_any_write_has_an_empty_table_with_its_columns():
    world = orders_and_views()
    one_request_at(world, ("orders", "save"))
    consistency = world.run(until=0.5).consistency
    assert consistency.empty
    assert list(consistency.columns) == list(sl.schema.CONSISTENCY)


# -- the ledger of writes under random crashes


LOAD_SECONDS = 3.0
MAX_ATTEMPTS = 3
PROJECTION_FAILURES = 0.3  # share of deliveries a read model fails, before it writes


def crashable_world(seed):
    """orders writes a new key per request (so one version each) and publishes it; two
    read models, with two consumers each, apply it. A delivery fails now and then
    *before* the write, so with MAX_ATTEMPTS = 3 about 0.3**3 = 2.7% of the messages
    are dead-lettered and their writes never show."""
    world = sl.World(seed=seed)
    orders = world.service("orders", workers=4, work=sl.Exp(mean=0.02))
    bus = world.broker("bus", topics=["order-events"], max_attempts=MAX_ATTEMPTS,
                       redelivery_delay=0.1)

    @orders.endpoint("save")
    def save(ctx, order):
        yield ctx.work()
        ctx.db.write(order.id, "saved")
        ctx.publish(bus, "order-events", order.id, key=order.id)

    for name in ("view", "search"):
        view = world.service(name, workers=2, work=sl.Exp(mean=0.03))

        @view.consumer(bus, "order-events", view_of="orders")
        def apply(ctx, key):
            yield ctx.work()
            if ctx.random() < PROJECTION_FAILURES:
                raise sl.ServiceError("projection failed")
            ctx.db.write(key, "saved")

    world.load(sl.Poisson(rate=30), target=("orders", "save"), duration=LOAD_SECONDS)
    return world


@st.composite
def crash_schedules(draw):
    """Up to two crashes each of the source and one read model, in order and never
    overlapping (a crash may begin the instant the previous one ends)."""
    schedule = []
    for service in ("orders", "view"):
        at = 0.0
        for _ in range(draw(st.integers(0, 2))):
            at = round(at + draw(st.one_of(st.just(0.0), st.floats(0.05, 1.5))), 3)
            duration = round(draw(st.floats(0.01, 1.0)), 3)
            schedule.append((service, at, duration))
            at += duration
    return schedule


@pytest.mark.filterwarnings("ignore::simlab.SimlabWarning")  # faults drawn past the stop
@examples(25)
@given(seed=st.integers(0, 2**32 - 1), schedule=crash_schedules(),
       until=st.one_of(st.none(), st.floats(0.5, LOAD_SECONDS + 1.0)))
def test_no_write_is_lost_under_random_crashes(seed, schedule, until):
    world = crashable_world(seed)
    for service, at, duration in schedule:
        world.faults.crash(service, at=at, duration=duration)
    result = world.run(until=until)
    stopped_early = until is not None

    # Messages: one ledger row per message per group, each acked, dead-lettered or pending.
    ledger = result.message_ledger()
    published = result.messages[result.messages.event == "publish"]
    for group in ("view", "search"):
        rows = ledger[ledger.group == group]
        assert sorted(rows.message_id) == sorted(published.message_id)
    assert set(ledger.state) <= {"acked", "dead_lettered", "pending"}
    if not stopped_early:
        assert "pending" not in set(ledger.state)

    # Writes: every source write exactly once per view, visible or pending.
    consistency = result.consistency
    source_writes = result.writes[result.writes.service == "orders"]
    assert len(consistency) == 2 * len(source_writes)
    assert not consistency.duplicated(["view", "key", "version"]).any()
    assert set(consistency.state) <= {"visible", "pending"}
    visible = consistency.state == "visible"
    assert (visible == consistency.visible.notna()).all()
    assert (visible == consistency.lag.notna()).all()
    assert (consistency.lag[visible] >= 0).all()

    # A view applies a write exactly when it acks the message that carries it (the
    # handler writes as its last step), so: visible <=> acked, and at the ack's time.
    # One key per message here, so the key finds the message.
    acks = result.messages[result.messages.event == "ack"]
    for view in ("view", "search"):
        rows = consistency[consistency.view == view].set_index("key")
        acked = acks[acks.group == view].set_index("key").time
        assert set(rows.index[rows.state == "visible"]) == set(acked.index)
        assert rows.visible.reindex(acked.index).to_numpy() == pytest.approx(acked.to_numpy())
        # In a drained run, a write is pending only if its message was dead-lettered.
        if not stopped_early:
            settled = ledger[ledger.group == view].set_index("message_id").state
            keys = published.set_index("message_id").key
            dead = set(keys[settled[settled == "dead_lettered"].index])
            assert set(rows.index[rows.state == "pending"]) == dead


def test_dead_letters_really_leave_pending_writes():
    """The random runs above check something only if pending writes do occur in a
    drained run: the writes whose messages were dead-lettered."""
    world = crashable_world(seed=3)
    world.faults.crash("view", at=1.0, duration=0.5)
    result = world.run()
    consistency = result.consistency
    pending = consistency[consistency.state == "pending"]
    assert len(pending) > 0
    assert len(pending) == result.summary().dead_lettered
    assert result.summary().pending_writes == len(pending)


# -- stale reads


def test_reading_your_writes_from_a_read_model_is_mostly_stale():
    # The client reads ~2 ms after its write (two 0.5 ms hops and 1 ms of view work),
    # while the projection takes 10 ms on average (exponential): it is done in time
    # with probability 1 - exp(-2/10) = 18% at best. So well over half the reads are stale.
    result = sl.scenarios.read_your_writes(remedy=None, duration=10).run()
    reads = result.reads
    assert len(reads) > 300
    assert reads.stale.mean() > 0.5
    assert result.summary().stale_reads == reads.stale.sum()
    # Behind exactly when stale, by seconds and by versions.
    assert ((reads.seconds_behind > 0) == reads.stale).all()
    assert ((reads.versions_behind > 0) == reads.stale).all()
    assert (reads.versions_behind == reads.source_version - reads.version).all()
    # Each order is written once, so a stale read returned version 0 and is behind by
    # the time since that one source write.
    stale = reads[reads.stale]
    assert (stale.version == 0).all() and (stale.versions_behind == 1).all()
    written = result.writes[result.writes.service == "orders"].set_index("key").time
    expected = stale.time.to_numpy() - written[stale.key].to_numpy()
    assert stale.seconds_behind.to_numpy() == pytest.approx(expected)


@pytest.mark.parametrize("remedy", ["read-source", "wait-for-version", "fallback"])
def test_each_remedy_removes_stale_reads(remedy):
    result = sl.scenarios.read_your_writes(remedy=remedy, duration=10).run()
    reads = result.reads
    assert len(reads) > 300
    assert not reads.stale.any()
    assert (reads.seconds_behind == 0).all() and (reads.versions_behind == 0).all()
    assert result.summary().stale_reads == 0
    assert (result.requests.outcome == "ok").all()


def test_seconds_behind_in_a_constructed_case():
    """A client writes key k twice, 0.3 s apart, and reads the view three times.

    orders writes v1 at 1.1 and v2 at 1.4 (each save takes 0.1 s). The view needs 1 s per
    event, one at a time: it applies v1 at 2.1 and v2 at 3.1. The client reads at
    1.7 (holds v0: 2 versions behind, missed v1 written 0.6 s ago),
    2.5 (holds v1: 1 behind, missed v2 written 1.1 s ago) and
    3.5 (holds v2: fresh).
    """
    world = sl.World(seed=1)
    client = world.service("client", workers=None)
    orders = world.service("orders", workers=None, work=sl.Constant(SOURCE_WORK))
    view = world.service("view", workers=None, work=sl.Constant(1.0))
    bus = world.broker("bus", topics=["order-events"])

    @orders.endpoint("save")
    def save(ctx, key):
        yield ctx.work()
        ctx.db.write(key)
        ctx.publish(bus, "order-events", key)

    @view.consumer(bus, "order-events", view_of="orders", consumers=1)
    def apply(ctx, key):
        yield ctx.work()
        ctx.db.write(key)

    @view.endpoint("get")
    def get(ctx, key):
        yield ctx.work(0)
        return ctx.db.read(key)

    @client.endpoint("write-write-read")
    def session(ctx, order):
        yield ctx.call("orders", "save", "k")   # 1.0 -> 1.1
        yield ctx.sleep(0.2)
        yield ctx.call("orders", "save", "k")   # 1.3 -> 1.4
        for pause in (0.3, 0.8, 1.0):           # reads at 1.7, 2.5, 3.5
            yield ctx.sleep(pause)
            yield ctx.call("view", "get", "k")

    one_request_at(world, ("client", "write-write-read"), at=1.0)
    reads = world.run().reads
    assert reads.time.tolist() == pytest.approx([1.7, 2.5, 3.5])
    assert reads.version.tolist() == [0, 1, 2]
    assert reads.source_version.tolist() == [2, 2, 2]
    assert reads.versions_behind.tolist() == [2, 1, 0]
    assert reads.stale.tolist() == [True, True, False]
    assert reads.seconds_behind.tolist() == pytest.approx([0.6, 1.1, 0.0])


def test_reading_the_source_is_never_stale():
    world = sl.World(seed=1)
    orders = world.service("orders", workers=None, work=sl.Constant(SOURCE_WORK))

    @orders.endpoint("save-and-read")
    def save_and_read(ctx, order):
        yield ctx.work()
        ctx.db.write("k")
        assert ctx.db.read("k") is None  # written without a value
        ctx.db.read("never-written")

    world.load(sl.Users(n=1, think=sl.Constant(0.5)), target=("orders", "save-and-read"),
               duration=2.0)
    reads = world.run().reads
    assert len(reads) == 2 * 3  # three requests, at 0.5, 1.1, 1.7
    assert not reads.stale.any()
    assert (reads.version == reads.source_version).all()
    assert reads.version.tolist() == [1, 0, 2, 0, 3, 0]


# -- versions


def test_source_versions_count_up_per_key():
    world = orders_and_views(keys=lambda order: [order.id % 3])
    world.load(sl.Poisson(rate=20), target=("orders", "save"), duration=3)
    writes = world.run().writes
    source = writes[writes.service == "orders"]
    assert len(source) > 30
    assert (source.source == "").all()
    for key, one in source.groupby("key"):
        assert one.version.tolist() == list(range(1, len(one) + 1)), f"key {key}"
    # The view records the source it follows.
    assert (writes[writes.service == "view"].source == "orders").all()


def out_of_order_world(apply_seconds, readers=()):
    """orders writes key "k" twice in one request and publishes each version; a view with
    two competing consumers (a shared queue) applies version v after apply_seconds[v].
    ``readers``: times after the request's start at which a client reads the view."""
    world = sl.World(seed=1)
    orders = world.service("orders", workers=None, work=sl.Constant(SOURCE_WORK))
    view = world.service("view", workers=None)
    client = world.service("client", workers=None)
    bus = world.broker("bus", topics=["order-events"])

    @orders.endpoint("save-twice")
    def save_twice(ctx, order):
        yield ctx.work()
        for _ in range(2):
            version = ctx.db.write("k")
            ctx.publish(bus, "order-events", version)

    @view.consumer(bus, "order-events", view_of="orders", consumers=2)
    def apply(ctx, version):
        yield ctx.work(apply_seconds[version])
        stored = ctx.db.write("k")
        assert stored == version  # the view stores the source version it applies

    @view.endpoint("get")
    def get(ctx, key):
        yield ctx.work(0)
        ctx.db.read(key)

    @client.endpoint("go")
    def go(ctx, order):
        yield ctx.call("orders", "save-twice", order)
        elapsed = SOURCE_WORK
        for at in readers:
            yield ctx.sleep(at - elapsed)
            elapsed = at
            yield ctx.call("view", "get", "k")

    one_request_at(world, ("client", "go"))
    return world.run()


def test_a_view_may_apply_an_older_version_after_a_newer_one():
    # Both versions written at 1.1. Version 2 is applied after 0.1 s (at 1.2), version 1
    # after 0.5 s (at 1.6): the view goes back from v2 to v1.
    result = out_of_order_world({1: 0.5, 2: 0.1}, readers=[1.0])
    view_writes = result.writes[result.writes.service == "view"]
    assert view_writes.version.tolist() == [2, 1]
    assert view_writes.time.tolist() == pytest.approx([1.2, 1.6])
    # Both versions became visible at 1.2: from then on the view held v1 *or later*.
    consistency = result.consistency.set_index("version")
    assert consistency.visible.tolist() == pytest.approx([1.2, 1.2])
    assert consistency.lag.tolist() == pytest.approx([0.1, 0.1])
    # A read at 2.0 returns v1 although the source holds v2: stale, behind by the time
    # since v2 was written (2.0 - 1.1).
    read = result.reads.iloc[0]
    assert (read.time, read.version, read.source_version) == (pytest.approx(2.0), 1, 2)
    assert read.stale and read.seconds_behind == pytest.approx(0.9)


def test_in_order_application_gives_each_version_its_own_time():
    # The control case: version 1 applied at 1.2, version 2 at 1.6.
    result = out_of_order_world({1: 0.1, 2: 0.5})
    consistency = result.consistency.set_index("version")
    assert consistency.visible.tolist() == pytest.approx([1.2, 1.6])


def test_visible_is_the_first_time_the_view_held_that_version_or_later():
    # Many writes to three keys; four consumers with random work compete on a shared
    # queue, so versions are often applied out of order. The table must agree with a
    # brute-force reading of the view's write history.
    world = sl.World(seed=11)
    orders = world.service("orders", workers=None, work=sl.Exp(mean=0.01))
    view = world.service("view", workers=4, work=sl.Exp(mean=0.1))
    bus = world.broker("bus", topics=["order-events"])

    @orders.endpoint("save")
    def save(ctx, order):
        yield ctx.work()
        key = order.id % 3
        ctx.publish(bus, "order-events", (key, ctx.db.write(key)))

    @view.consumer(bus, "order-events", view_of="orders")
    def apply(ctx, event):
        key, version = event
        yield ctx.work()
        assert ctx.db.write(key) == version

    world.load(sl.Poisson(rate=30), target=("orders", "save"), duration=5)
    result = world.run()
    writes = result.writes
    view_writes = writes[writes.service == "view"]
    went_back = any((np.diff(one.version.to_numpy()) < 0).any()
                    for _, one in view_writes.groupby("key"))
    assert went_back, "the case is only interesting if some versions arrive out of order"
    for row in result.consistency.itertuples():
        held = view_writes[(view_writes.key == row.key) & (view_writes.version >= row.version)]
        assert row.visible == held.time.min()


# -- lineage down an event chain


def chain_world(c_view_of="A", c_key=lambda order: order.id):
    """A writes and publishes t1; B consumes t1, writes its own key, publishes t2;
    C consumes t2 and is a read model of ``c_view_of``."""
    world = sl.World(seed=1)
    a = world.service("A", workers=None, work=sl.Constant(0.1))
    b = world.service("B", workers=1, work=sl.Constant(0.1))
    c = world.service("C", workers=1, work=sl.Constant(0.2))
    bus = world.broker("bus", topics=["t1", "t2"])

    @a.endpoint("save")
    def save(ctx, order):
        yield ctx.work()
        ctx.db.write(order.id)
        ctx.publish(bus, "t1", order)

    @b.consumer(bus, "t1")
    def enrich(ctx, order):
        yield ctx.work()
        ctx.db.write(f"b-{order.id}")
        ctx.publish(bus, "t2", order)

    @c.consumer(bus, "t2", view_of=c_view_of)
    def project(ctx, order):
        yield ctx.work()
        ctx.db.write(c_key(order))

    one_request_at(world, ("A", "save"))
    return world


def test_a_view_at_the_end_of_a_chain_measures_lag_from_the_first_write():
    # A writes at 1.1; B publishes t2 at 1.2; C applies at 1.4: lag 0.1 + 0.2 = 0.3.
    result = chain_world().run()
    consistency = result.consistency
    assert len(consistency) == 1
    row = consistency.iloc[0]
    assert (row.source, row.view, row.key, row.version) == ("A", "C", 1, 1)
    assert row.written == pytest.approx(1.1)
    assert row.lag == pytest.approx(0.3)
    # The lag belongs to the request that wrote A.
    assert row.trace_id == result.requests.trace_id.iloc[0]


def test_a_chain_can_follow_the_middle_service_too():
    # C follows B instead: B wrote "b-1" at 1.2, C applies it at 1.4.
    result = chain_world(c_view_of="B", c_key=lambda order: f"b-{order.id}").run()
    row = result.consistency.iloc[0]
    assert (row.source, row.key) == ("B", "b-1")
    assert row.lag == pytest.approx(0.2)


def test_a_view_of_a_view_reports_how_far_behind_it_is():
    """A regression test: a read model's versions are its source's versions, so they
    can skip (here B never holds v1); seconds_behind must not count B's writes by version.

    A writes k twice in one request (v1, v2) and publishes once; B, a read model of A,
    applies v2 and publishes; C, a read model of B, applies it. Later A writes v3.

    Times: A writes v1, v2 at 1.1; B applies v2 at 1.2; C at 2.2. A writes v3 at 2.7,
    B applies it at 2.8, C would at 3.8. A read of C at 3.0 returns v2 while B holds v3:
    stale, one version behind, B wrote the missed version 0.2 s ago."""
    world = sl.World(seed=1)
    client = world.service("client", workers=None)
    a = world.service("A", workers=None, work=sl.Constant(0.1))
    b = world.service("B", workers=None, work=sl.Constant(0.1))
    c = world.service("C", workers=None, work=sl.Constant(1.0))
    bus = world.broker("bus", topics=["t1", "t2"])

    @a.endpoint("save")
    def save(ctx, writes):
        yield ctx.work()
        for _ in range(writes):
            ctx.db.write("k")
        ctx.publish(bus, "t1", "k")

    @b.consumer(bus, "t1", view_of="A", consumers=1)
    def follow_a(ctx, key):
        yield ctx.work()
        ctx.db.write(key)
        ctx.publish(bus, "t2", key)

    @c.consumer(bus, "t2", view_of="B", consumers=1)
    def follow_b(ctx, key):
        yield ctx.work()
        ctx.db.write(key)

    @c.endpoint("get")
    def get(ctx, key):
        yield ctx.work(0)
        ctx.db.read(key)

    @client.endpoint("go")
    def go(ctx, order):
        yield ctx.call("A", "save", 2)   # 1.0 -> 1.1
        yield ctx.sleep(1.5)
        yield ctx.call("A", "save", 1)   # 2.6 -> 2.7
        yield ctx.sleep(0.3)
        yield ctx.call("C", "get", "k")  # 3.0

    one_request_at(world, ("client", "go"))
    read = world.run().reads.iloc[0]
    assert (read.version, read.source_version, read.stale) == (2, 3, True)
    assert read.seconds_behind == pytest.approx(0.2)


def test_the_shop_tracking_page_shows_an_order_after_its_shipment_is_scheduled():
    # In the async shop, tracking is a read model of orders fed by the last event of a
    # four-step chain: an order can only show there after shipment-scheduled was published.
    result = sl.scenarios.shop(style="async", rate=30, duration=5).run()
    consistency = result.consistency
    orders_writes = result.writes[result.writes.service == "orders"]
    assert len(consistency) == len(orders_writes) > 50
    assert set(consistency.view) == {"tracking"} and (consistency.state == "visible").all()
    messages = result.messages
    scheduled = messages[(messages.event == "publish") & (messages.topic == "shipment-scheduled")]
    published = scheduled.set_index("trace_id").time
    visible = consistency.set_index("trace_id").visible
    assert (visible >= published.reindex(visible.index)).all()
    assert (consistency.lag > 0).all()


# -- bad input


def test_a_view_of_an_unknown_service_fails_at_run_start():
    world = orders_and_views()
    other = world.service("search", workers=1)
    bus = world.brokers["bus"]

    @other.consumer(bus, "order-events", group="search", view_of="ordres")
    def apply(ctx, key):
        yield ctx.work()

    one_request_at(world, ("orders", "save"))
    with pytest.raises(sl.ModelError, match="view_of of 'search': unknown service 'ordres'"):
        world.run()


def test_a_view_that_writes_a_key_the_message_does_not_carry():
    world = chain_world(c_key=lambda order: f"order-{order.id}")
    with pytest.raises(sl.ModelError) as raised:
        world.run()
    message = str(raised.value)
    assert "key 'order-1' has none" in message          # names the key
    assert "('A', 1, 1)" in message                        # and what the message carries
    assert "Write the key the source wrote" in message     # and the fix


def test_a_view_of_a_source_that_wrote_nothing_before_publishing():
    # B's handler publishes *before* it writes: the message carries nothing of B.
    world = sl.World(seed=1)
    a = world.service("A", workers=None)
    c = world.service("C", workers=1)
    bus = world.broker("bus", topics=["t1"])

    @a.endpoint("save")
    def save(ctx, order):
        yield ctx.work(0.1)
        ctx.publish(bus, "t1", order)
        ctx.db.write(order.id)

    @c.consumer(bus, "t1", view_of="A")
    def project(ctx, order):
        yield ctx.work(0.1)
        ctx.db.write(order.id)

    one_request_at(world, ("A", "save"))
    with pytest.raises(sl.ModelError, match="have the source write before it publishes"):
        world.run()


def test_a_service_cannot_be_a_view_of_itself():
    world = sl.World()
    view = world.service("view")
    bus = world.broker("bus", topics=["order-events"])
    with pytest.raises(sl.ModelError, match="'view' cannot be a read model of 'view'.*itself"):
        @view.consumer(bus, "order-events", view_of="view")
        def apply(ctx, key):
            yield ctx.work()


def test_a_service_cannot_follow_two_sources():
    world = sl.World()
    view = world.service("view", workers=2)
    bus = world.broker("bus", topics=["orders", "payments"])

    @view.consumer(bus, "orders", view_of="orders")
    def apply_order(ctx, key):
        yield ctx.work()

    with pytest.raises(sl.ModelError,
                       match="cannot be a read model of 'payments'.*of 'orders' already"):
        @view.consumer(bus, "payments", view_of="payments")
        def apply_payment(ctx, key):
            yield ctx.work()


def test_two_consumers_of_one_view_may_follow_the_same_source():
    world = sl.World()
    view = world.service("view", workers=2)
    bus = world.broker("bus", topics=["orders", "order-updates"])
    for topic in ("orders", "order-updates"):
        @view.consumer(bus, topic, view_of="orders")
        def apply(ctx, key):
            yield ctx.work()
    assert view.view_of == "orders"
