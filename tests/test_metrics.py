"""The analyses of ``simlab.metrics`` against counts made another way.

* the lost / duplicated / dead-lettered rules agree with a count by hand (plain loops over
  the raw events and writes) on random models under random faults;
* attempts and requests sent per call match cases computed by hand (fixed retries, a
  breaker that opens after two failures);
* a group's backlog drains a burst as the arithmetic says, and obeys Little's law.
"""

import random
import warnings
from collections import defaultdict

import pytest
from checks import examples
from hypothesis import given
from hypothesis import strategies as st

import random_models
import simlab as sl
from simlab.scenarios import Order

# -- lost and duplicated, counted by hand


def fates_by_hand(result):
    """{(topic, group, message_id): (state, lost, duplicated)}, from the raw records only.

    A message's state in a group is decided by the last ack, dead letter or replay of it
    there; its effects are the distinct handler runs (spans) of that group that wrote
    while applying it. Lost: acked with no effect, in a group that writes effects at all.
    Duplicated: more than one effect."""
    last = {}
    for row in result.messages.itertuples():
        if row.event in ("ack", "dead_letter", "replay"):
            last[(row.topic, row.group, row.message_id)] = row.event
    runs = defaultdict(set)
    writers = set()
    for row in result.writes.itertuples():
        if row.message_id > 0:
            topic, group = row.topic, row.group
            runs[(topic, group, row.message_id)].add(row.span_id)
            writers.add((topic, group))
    fates = {}
    for row in result.messages.itertuples():
        if row.event != "publish":
            continue
        for group in result.subscriptions[(row.broker, row.topic)]:
            key = (row.topic, group, row.message_id)
            state = {"ack": "acked", "dead_letter": "dead_lettered"}.get(last.get(key), "pending")
            effects = len(runs[key])
            lost = state == "acked" and effects == 0 and (row.topic, group) in writers
            fates[key] = (state, lost, effects > 1)
    return fates


def run_random_model(seed):
    plan = random_models.plan(random.Random(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.SimlabWarning)
        return random_models.build(plan).run(until=plan["until"])


@examples(30)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_lost_and_duplicate_rules_agree_with_a_count_by_hand(seed):
    result = run_random_model(seed)
    fates = sl.metrics.message_fates(result)
    library = {(row.topic, row.group, row.message_id): (row.state, row.lost, row.duplicate)
               for row in fates.itertuples()}
    assert library == fates_by_hand(result)
    report = result.delivery_report()
    assert report.lost.sum() == sum(lost for _, lost, _ in library.values())
    assert report.duplicates.sum() == sum(twice for _, _, twice in library.values())


def test_the_random_models_do_lose_and_duplicate():
    """The agreement above means something only if the models have both anomalies."""
    lost = duplicated = 0
    for seed in range(30):
        fates = sl.metrics.message_fates(run_random_model(seed))
        lost += fates["lost"].sum()
        duplicated += fates["duplicate"].sum()
    assert lost > 0 and duplicated > 0


def test_the_delivery_semantics_show_in_the_fates():
    crashed = {semantics: sl.metrics.message_fates(sl.scenarios.delivery(semantics, crashes=12,
                                                                          duration=30).run())
               for semantics in ("at-least-once", "at-most-once", "effectively-once")}
    assert crashed["at-least-once"].duplicate.any() and not crashed["at-least-once"].lost.any()
    assert crashed["at-most-once"].lost.any() and not crashed["at-most-once"].duplicate.any()
    assert not crashed["effectively-once"][["lost", "duplicate"]].any().any()


def test_an_effect_is_one_handler_run_however_many_keys_it_writes():
    def invoice_and_receipt(ctx, order):
        yield ctx.work()
        ctx.db.write(order.id, "invoiced")
        ctx.db.write(("receipt", order.id), "sent")

    fates = sl.metrics.message_fates(sl.scenarios.billing_world(invoice_and_receipt,
                                                                duration=5).run())
    assert (fates.effects == 1).all() and not fates.duplicate.any()


# -- attempts and requests sent per call


def caller_and_target(handle, retry, breaker=None, load=None):
    """``front`` calls ``back`` once per request with these policies; ``back`` runs
    ``handle``. Both have as many workers as needed."""
    world = sl.World(seed=3)
    front = world.service("front", workers=None)
    back = world.service("back", workers=None, work=sl.Constant(0.01))

    @front.endpoint("go")
    def go(ctx, order):
        yield ctx.call("back", "do", order, retry=retry, breaker=breaker)

    back.endpoint("do")(handle)
    world.load(load or sl.Poisson(rate=50), target=("front", "go"), duration=4, payload=Order)
    return world.run()


def fails_for_odd_orders(ctx, order):
    yield ctx.work()
    if order.id % 2:
        raise sl.ServiceError(f"order {order.id} is odd")


def test_fixed_retries_make_the_attempts_counted_by_hand():
    # An odd order fails every attempt: 3 of them; an even one succeeds at once.
    result = caller_and_target(fails_for_odd_orders, sl.Retry(attempts=3))
    odd = (result.requests.request_id % 2 == 1).sum()
    expected = (3 * odd + (len(result.requests) - odd)) / len(result.requests)
    assert sl.metrics.attempts_per_call(result, "back") == pytest.approx(expected, abs=1e-12)
    assert sl.metrics.sent_per_call(result, "back", caller="front") == pytest.approx(expected,
                                                                                       abs=1e-12)
    calls = sl.metrics.calls(result, "back")
    assert len(calls) == len(result.requests)
    assert set(calls.attempts) == {1, 3}
    assert sl.metrics.calls(result, "back", caller="nobody").empty


def always_fails(ctx, order):
    yield ctx.work()
    raise sl.ServiceError("down")


@pytest.mark.parametrize("retry_rejected", [False, True])
def test_a_breaker_turns_attempts_away_before_they_are_sent(retry_rejected):
    # One call at a time. The first call's first two attempts fail and open the breaker for
    # good; its third is turned away, and so is every attempt after it.
    on = ("error", "timeout", "rejected") if retry_rejected else ("error", "timeout")
    result = caller_and_target(
        always_fails, sl.Retry(attempts=3, on=on),
        breaker=sl.CircuitBreaker(failure_rate=0.5, window=2, minimum_calls=2, open_for=1e6),
        load=sl.Users(n=1, think=sl.Constant(0.1)))
    calls = len(result.requests)
    later = 3 if retry_rejected else 1   # attempts of each later call, all turned away
    assert sl.metrics.calls(result, "back").sent.sum() == 2
    assert sl.metrics.sent_per_call(result, "back") == pytest.approx(2 / calls)
    assert sl.metrics.attempts_per_call(result, "back") == pytest.approx(
        (3 + later * (calls - 1)) / calls)
    first_second = sl.metrics.sent_per_call_over_time(result, "back", window=1.0)
    assert first_second.index[0] == 0.0 and first_second.iloc[0] > 0 == first_second.iloc[-1]


def test_the_retry_arithmetic_holds_on_average():
    result = sl.scenarios.flaky_world(0.5, 3, duration=40).run()
    calls = sl.metrics.calls(result, "flaky").attempts
    se = calls.std() / len(calls) ** 0.5
    assert abs(calls.mean() - (1 - 0.5 ** 3) / (1 - 0.5)) < 4 * se


# -- backlog of a consumer group


def burst_of_messages(size, work):
    """``size`` messages published within 1 ms at t = 1 to one consumer that takes
    ``work`` seconds each (constant)."""
    world = sl.World(seed=5, sample_every=0.01)
    shop = world.service("shop", workers=None)
    billing = world.service("billing", workers=1, work=sl.Constant(work))
    bus = world.broker("bus", topics=["orders"])

    @shop.endpoint("buy")
    def buy(ctx, order):
        ctx.publish(bus, "orders", order, key=order.id)
        yield ctx.work(0.0)

    @billing.consumer(bus, "orders", group="billing")
    def bill(ctx, order):
        yield ctx.work()

    world.load(sl.Burst(size=size, over=0.001), target=("shop", "buy"), start=1.0,
               payload=Order)
    return world.run()


def test_a_burst_drains_at_the_consumers_pace():
    result = burst_of_messages(40, 0.05)
    backlog = sl.metrics.backlog(result, "orders", "billing")
    assert list(backlog.columns) == ["time", "queued", "busy", "backlog"]
    assert (backlog.backlog == backlog.queued + backlog.busy).all()
    # At a sample t after the burst, the messages done are those whose 0.05 s ended by t.
    middle = backlog[(backlog.time > 1.01) & (backlog.time < 2.9)]
    done = ((middle.time - 1.0) / 0.05).astype(int)
    assert (abs(middle.backlog - (40 - done)) <= 1).all()
    drain = sl.metrics.backlog_drain(result, "orders", "billing")
    assert drain.peak == 40
    # The last message starts at 1 + 39 x 0.05: nothing waits from then on.
    assert drain.drained_after == pytest.approx(39 * 0.05, abs=0.011)


def test_the_backlog_obeys_littles_law():
    sale = sl.scenarios.flash_sale(burst=400, duration=30).run()
    published = ((sale.messages.event == "publish") & (sale.messages.topic == "order-placed")).sum()
    arrivals = published / sale.end_time
    inside = sl.metrics.backlog(sale, "order-placed", "payments").backlog.mean()
    wait = sl.metrics.time_in_group(sale, "order-placed", "payments")
    assert len(wait) == published
    assert inside == pytest.approx(arrivals * wait.mean(), rel=0.03)
