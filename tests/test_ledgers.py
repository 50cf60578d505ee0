"""Nothing lost: every request and every message is accounted for, even under random crashes.

Two ledgers are checked after each run:

* requests: each external request appears exactly once, with exactly one outcome
  (ok, error, timeout, rejected, or in_flight when the run stopped first);
* messages: each published message, for each consumer group of its topic, is acked,
  dead-lettered or still pending, and the ledger agrees event by event with the
  messages table.

Hypothesis draws the crash schedule (and changes of consumers), the seed and the
stopping time; the model is small (a few hundred requests) so that thirty runs take a
few seconds.
"""

import pytest
from checks import check_no_work_outlives_a_crash, examples
from hypothesis import given
from hypothesis import strategies as st

import simlab as sl

SERVICES = ("front", "stock", "store", "shipping", "mail")
LOAD_SECONDS = 6.0
MAX_ATTEMPTS = 3


def build_world(seed):
    """A small shop that exercises every way a request or a message can end.

    front    -- bounded queue (rejections); calls stock with a timeout, then publishes
    stock    -- calls store without a timeout
    store    -- a leaf
    shipping -- consumer group "shipping" of the shared-queue topic "orders", and
                group "audit" of the partitioned topic "audit"
    mail     -- consumer group "mail" of "orders"; it fails now and then, so its
                messages are redelivered and sometimes dead-lettered
    """
    world = sl.World(seed=seed)
    front = world.service("front", workers=2, queue=3, work=sl.Exp(mean=0.01))
    stock = world.service("stock", workers=2, work=sl.Exp(mean=0.02))
    store = world.service("store", workers=1, work=sl.Exp(mean=0.02))
    shipping = world.service("shipping", workers=2, work=sl.Exp(mean=0.03))
    mail = world.service("mail", workers=1, work=sl.Exp(mean=0.02), error_rate=0.3)
    bus = world.broker("bus", topics=["orders"], max_attempts=MAX_ATTEMPTS,
                       redelivery_delay=0.1)
    bus.topic("audit", partitions=2)

    @front.endpoint("order")
    def order(ctx, payload):
        yield ctx.work()
        yield ctx.call("stock", "reserve", payload, timeout=0.08)
        ctx.publish(bus, "orders", payload, key=payload.id)
        ctx.publish(bus, "audit", payload, key=payload.id % 5)

    @stock.endpoint("reserve")
    def reserve(ctx, payload):
        yield ctx.work()
        yield ctx.call("store", "write", payload)

    @store.endpoint("write")
    def write(ctx, payload):
        yield ctx.work()

    @shipping.consumer(bus, "orders", group="shipping")
    def ship(ctx, payload):
        yield ctx.work()

    @shipping.consumer(bus, "audit", group="audit")
    def audit(ctx, payload):
        yield ctx.work()

    @mail.consumer(bus, "orders", group="mail")
    def send_mail(ctx, payload):
        yield ctx.work()

    world.load(sl.Poisson(rate=50), target=("front", "order"), duration=LOAD_SECONDS)
    return world


# -- the two ledgers


def check_request_ledger(result, stopped_early):
    requests = result.requests
    # Each request exactly once, numbered 1..N in order of arrival.
    assert requests.request_id.tolist() == list(range(1, len(requests) + 1))
    assert requests.start.is_monotonic_increasing
    assert requests.trace_id.is_unique
    # Exactly one outcome from the closed vocabulary.
    assert set(requests.outcome) <= set(sl.schema.OUTCOMES)
    # In flight exactly when there is no end; a finished request ends after it began.
    assert ((requests.outcome == "in_flight") == requests.end.isna()).all()
    finished = requests[requests.end.notna()]
    assert (finished.end >= finished.start).all()
    assert (finished.end <= result.end_time).all()
    if not stopped_early:
        assert (requests.outcome != "in_flight").all()
    # Each request is the root of its own trace: one root server span at the entry.
    roots = result.spans[result.spans.parent_id == ""]
    assert sorted(roots.trace_id) == sorted(requests.trace_id)
    assert (roots.service == "front").all()
    # A span is open (status in_flight) exactly when it has no end.
    spans = result.spans
    assert ((spans.status == "in_flight") == spans.end.isna()).all()
    if not stopped_early:
        assert spans.end.notna().all()


def event_counts(messages):
    """One row per (topic, group, message): how many of each event it had."""
    events = messages[messages.event != "publish"]
    counts = events.groupby(["broker", "topic", "group", "message_id", "event"]).size()
    counts = counts.unstack("event", fill_value=0)
    for event in ("deliver", "ack", "redeliver", "dead_letter"):
        if event not in counts:
            counts[event] = 0
    return counts


def check_message_ledger(result, stopped_early):
    messages = result.messages
    ledger = result.message_ledger()
    published = messages[messages.event == "publish"]
    assert published.message_id.is_unique

    # One ledger row per published message per consumer group of its topic.
    for (broker, topic), groups in result.subscriptions.items():
        sent = published[(published.broker == broker) & (published.topic == topic)]
        rows = ledger[(ledger.broker == broker) & (ledger.topic == topic)]
        assert len(rows) == len(sent) * len(groups)
        for group in groups:
            assert sorted(rows.message_id[rows.group == group]) == sorted(sent.message_id)
    assert not ledger.duplicated(["broker", "topic", "group", "message_id"]).any()
    assert set(ledger.state) <= {"acked", "dead_lettered", "pending"}
    if not stopped_early:
        assert (ledger.state != "pending").all()

    # Nothing is delivered that was not published, and only to a group of its topic.
    others = messages[messages.event != "publish"]
    assert set(others.message_id) <= set(published.message_id)
    for (broker, topic), groups in result.subscriptions.items():
        assert set(others.group[others.topic == topic]) <= set(groups)

    counts = event_counts(messages)
    keys = ["broker", "topic", "group", "message_id"]
    joined = ledger.set_index(keys).join(counts, how="left").fillna(0)
    # At most one final event per (message, group), and it is the ledger's state.
    final = joined.ack + joined.dead_letter
    assert (final <= 1).all()
    assert ((joined.ack == 1) == (joined.state == "acked")).all()
    assert ((joined.dead_letter == 1) == (joined.state == "dead_lettered")).all()
    # Every delivery ended in an ack, a dead letter or a redelivery -- or is still
    # being handled (at most one at a time, only if the message is pending).
    in_progress = joined.deliver - (joined.ack + joined.dead_letter + joined.redeliver)
    assert in_progress.isin([0, 1]).all()
    assert (joined.state[in_progress == 1] == "pending").all()
    if not stopped_early:
        assert (in_progress == 0).all()
    # Dead letters happen after exactly MAX_ATTEMPTS deliveries.
    dead = joined[joined.state == "dead_lettered"]
    assert (dead.deliver == MAX_ATTEMPTS).all()
    assert (dead.attempts == MAX_ATTEMPTS).all()
    # Attempts are numbered 1, 2, 3 ... in time order.
    deliveries = messages[messages.event == "deliver"]
    for _, attempts in deliveries.groupby(["topic", "group", "message_id"]).attempt:
        assert attempts.tolist() == list(range(1, len(attempts) + 1))


# -- random crash schedules


@st.composite
def crash_schedules(draw):
    """Up to two crashes per service, in order and never overlapping (a gap of 0, one
    crash starting the instant the previous one ends, is allowed and drawn often)."""
    schedule = []
    for service in SERVICES:
        end_of_last = 0.0
        for _ in range(draw(st.integers(0, 2))):
            gap = round(draw(st.one_of(st.just(0.0), st.floats(0.0, 3.0))), 3)
            duration = round(draw(st.floats(0.01, 1.5)), 3)
            at = end_of_last + gap  # not rounded again: a gap of 0 must stay exactly 0
            schedule.append((service, at, duration))
            end_of_last = at + duration
    return schedule


def run_with(seed, schedule, until):
    world = build_world(seed)
    for service, at, duration in schedule:
        world.faults.crash(service, at=at, duration=duration)
    return world.run(until=until)


@pytest.mark.filterwarnings("ignore::simlab.SimlabWarning")  # faults drawn past the stop
@examples(30)
@given(seed=st.integers(0, 2**32 - 1), schedule=crash_schedules(),
       until=st.one_of(st.none(), st.floats(1.0, LOAD_SECONDS + 1.0)))
def test_nothing_is_lost_under_random_crashes(seed, schedule, until):
    result = run_with(seed, schedule, until)
    stopped_early = until is not None
    check_request_ledger(result, stopped_early)
    check_message_ledger(result, stopped_early)
    check_no_work_outlives_a_crash(result)
    # Every scheduled crash that began before the end is in the faults table.
    began = [c for c in schedule if until is None or c[1] < until]
    assert len(result.faults) == len(began)


def test_a_stopped_run_has_every_kind_of_loose_end():
    """The random runs above are only meaningful if these states really occur."""
    result = run_with(seed=4, schedule=[("stock", 1.0, 0.5), ("mail", 2.0, 1.0)], until=4.0)
    outcomes = set(result.requests.outcome)
    assert {"ok", "error", "timeout", "rejected", "in_flight"} <= outcomes
    states = set(result.message_ledger().state)
    assert states == {"acked", "dead_lettered", "pending"}
    check_request_ledger(result, stopped_early=True)
    check_message_ledger(result, stopped_early=True)


def test_a_drained_run_settles_everything():
    result = run_with(seed=4, schedule=[("stock", 1.0, 0.5), ("mail", 2.0, 1.0)], until=None)
    assert "in_flight" not in set(result.requests.outcome)
    assert "pending" not in set(result.message_ledger().state)
    check_request_ledger(result, stopped_early=False)
    check_message_ledger(result, stopped_early=False)


def test_back_to_back_crashes():
    """A crash that starts the instant the previous one ends: one long outage."""
    result = run_with(seed=1, schedule=[("mail", 1.0, 1.0), ("mail", 2.0, 1.0)], until=None)
    check_request_ledger(result, stopped_early=False)
    check_message_ledger(result, stopped_early=False)
    # mail is down from 1 s to 3 s without a break: it handles no message in between.
    spans = result.spans
    mail = spans[(spans.service == "mail") & (spans.status == "ok")]
    assert not ((mail.start > 1.0) & (mail.start < 3.0)).any()


# -- consumer changes on top of the crashes


@st.composite
def rebalances(draw):
    """Up to three changes of the number of consumers for each of shipping's groups
    (shipping has two workers, so one or two consumers)."""
    return [(topic, group, draw(st.integers(1, 2)), round(draw(st.floats(0.0, LOAD_SECONDS)), 3))
            for topic, group in (("orders", "shipping"), ("audit", "audit"))
            for _ in range(draw(st.integers(0, 3)))]


@pytest.mark.filterwarnings("ignore::simlab.SimlabWarning")  # faults drawn past the stop
@examples(20)
@given(seed=st.integers(0, 2**32 - 1), schedule=crash_schedules(), changes=rebalances(),
       until=st.one_of(st.none(), st.floats(1.0, LOAD_SECONDS + 1.0)))
def test_nothing_is_lost_under_crashes_and_rebalances(seed, schedule, changes, until):
    world = build_world(seed)
    for service, at, duration in schedule:
        world.faults.crash(service, at=at, duration=duration)
    for topic, group, consumers, at in changes:
        world.brokers["bus"].scale(topic, group, consumers=consumers, at=at)
    result = world.run(until=until)
    stopped_early = until is not None
    check_request_ledger(result, stopped_early)
    check_message_ledger(result, stopped_early)
    check_no_work_outlives_a_crash(result)
    # (Order per key across rebalances: see test_partitions, where messages stay in
    # hand long enough for a rebalance to catch them.)
