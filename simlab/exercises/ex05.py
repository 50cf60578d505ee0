"""Checks of exercises 05, async error handling (``exercises/05-async-error-handling.ipynb``).

The models the tasks use are defined here, so that the notebook and its checks share one
definition: ``billing_world`` (lesson 05's, ``simlab.scenarios.billing_world``, made
harsher), ``outbox_world``, ``policy_world``. Tasks 1 and 2 are
checked the way Maelstrom checks a workload: the learner's handlers run on many seeds,
with random crashes, and the check reads the history for the first counterexample.
"""

import inspect
import math

import simlab as sl

from . import (
    NotYet,
    ask,
    number,
    off_by,
    proportion_band,
    require,
    require_no_memory,
    run,
    watched,
    task,
)
from ..metrics import time_to_dead_letter
from ..scenarios import Order, checkout_saga
from ..scenarios import billing_world as lesson_billing_world

RATE = 40             # orders per second
DURATION = 60         # s of load
CRASHES = 20          # random crashes of billing drawn per run (task 1), 0.2 to 1 s each
REPUBLISHED = 0.05    # share of orders a producer publishes twice (a retried publish)
RENDER_TIME = 0.1     # s: mean time orders renders its reply (task 2)
RELAY_EVERY = 0.05    # s between two calls of the relay (task 2)
CHECK_SEEDS = range(1001, 1025)   # 24 seeds nobody tried in the notebook


# -- task 1: an idempotent consumer -------------------------------------------------------

def billing_world(handler, seed=1, crashes=CRASHES, duration=DURATION):
    """Lesson 05's billing (``simlab.scenarios.billing_world``) with your ``handler``
    (at-least-once, no ``idempotent=True``): billing crashes ``crashes`` times at random
    (overlapping crashes are skipped), and orders publishes ``REPUBLISHED`` of its orders
    twice (a producer that retried)."""
    return lesson_billing_world(handler, rate=RATE, duration=duration, seed=seed,
                                crashes=crashes, republished=REPUBLISHED)


def _history(result, key):
    """The broker's record and billing's writes for one order, as lines of text."""
    messages = result.messages[result.messages.key == key]
    lines = ["the broker's record:"] + ["  " + line for line in messages[
        ["time", "event", "message_id", "attempt"]].round(3).to_string(index=False).splitlines()]
    writes = result.writes[(result.writes.service == "billing") & (result.writes.key == key)]
    lines += ["billing's writes of this key:"] + (["  " + line for line in writes[
        ["time", "version", "message_id"]].round(3).to_string(index=False).splitlines()]
        if len(writes) else ["  none"])
    start, end = messages.time.min() - 1, messages.time.max() + 1
    crashes = result.faults[(result.faults.start <= end) & (result.faults.end >= start)]
    lines += [f"billing crashed at {c.start:.3f} s, up again at {c.end:.3f} s"
              for c in crashes.itertuples()]
    return "\n".join(lines)


def _invoice_problem(result, seed):
    published = result.messages[result.messages.event == "publish"]
    orders = set(published.key)
    writes = result.writes[(result.writes.service == "billing")
                           & result.writes.key.map(lambda key: key in orders)]
    count = writes.groupby("key", sort=False).size().reindex(published.key.unique(), fill_value=0)
    twice, never = count[count > 1], count[count == 0]
    if len(twice):
        key = writes[writes.key.isin(twice.index)].sort_values("time").key.iloc[0]
        trace = published.trace_id[published.key == key].iloc[0]
        return NotYet(
            f"seed {seed}: order {key} (trace {trace}) was invoiced {count[key]} times. A "
            "message can arrive more than once: delivered again after a crash, or published "
            "twice by a producer that retried. Before writing, look in billing's store for "
            "this order's invoice (ctx.db.version(key) is 0 if it was never written). "
            "ctx.memory will not do: a crash empties it.", _history(result, key))
    if len(never):
        key = never.index[0]
        trace = published.trace_id[published.key == key].iloc[0]
        return NotYet(f"seed {seed}: order {key} (trace {trace}) was never invoiced. Skip the "
                      "write only when billing's store already holds an invoice for this "
                      "order, under the key order.id.", _history(result, key))
    return None


@task("Task 1 — An idempotent consumer")
def task1(invoice):
    require(inspect.isgeneratorfunction(invoice),
            "invoice must be a handler: a generator function (with yield), as in the stub.")
    crashes = redelivered = republished = 0
    for seed in CHECK_SEEDS:
        handler = watched(invoice)
        result = run(billing_world(handler, seed=seed), "billing_world(invoice)")
        require_no_memory(handler, "invoice")
        problem = _invoice_problem(result, seed)
        if problem:
            raise problem
        crashes += len(result.faults)
        redelivered += (result.messages.event == "redeliver").sum()
        published = result.messages[result.messages.event == "publish"]
        republished += len(published) - published.key.nunique()
    return (f"on {len(CHECK_SEEDS)} runs with {crashes} crashes, {redelivered} redeliveries "
            f"and {republished} orders published twice, every order was invoiced exactly once.")


# -- task 2: an outbox, by hand -----------------------------------------------------------

def outbox_world(place, relay, seed=1, crashes=12, duration=30):
    """Orders takes orders with ``place`` and runs ``relay`` every ``RELAY_EVERY`` s (a
    caller that loops: the relay process); shipping consumes ``order-placed`` and writes
    each order it hears of into its own store. Orders crashes ``crashes`` times."""
    world = sl.World(seed=seed)
    orders = world.service("orders", workers=16, work=sl.Exp(mean=0.005))
    shipping = world.service("shipping", workers=2, work=sl.Exp(mean=0.010))
    bus = world.broker("bus")
    bus.topic("order-placed")
    orders.endpoint("place")(place)
    orders.endpoint("relay")(relay)

    @shipping.consumer(bus, "order-placed")
    def ship(ctx, order):
        yield ctx.work()
        ctx.db.write(order.id, "to ship")

    world.load(sl.Poisson(rate=RATE), target=("orders", "place"), duration=duration,
               payload=Order, name="customers")
    world.load(sl.Users(n=1, think=sl.Constant(RELAY_EVERY)), target=("orders", "relay"),
               duration=duration + 5, name="relay")
    if crashes:
        world.faults.random("crash", ["orders"], count=crashes, duration=(0.2, 1.0),
                            within=(0, duration))
    return world


def _order_history(result, key, written):
    lines = [f"orders wrote it at {written:.3f} s" if not math.isnan(written)
             else "orders never wrote it"]
    requests = result.requests[(result.requests.load == "customers")]
    mine = requests[requests.trace_id == _trace_of(result, key)]
    lines += [f"its request arrived at {r.start:.3f} s and ended {r.outcome}"
              + (f" ({r.reason})" if r.reason else "") for r in mine.itertuples()]
    near = result.faults[(result.faults.start >= (written if not math.isnan(written) else 0) - 1)]
    lines += [f"orders crashed at {c.start:.3f} s, up again at {c.end:.3f} s"
              for c in near.head(1).itertuples()]
    return "\n".join(lines)


def _trace_of(result, key):
    writes = result.writes[(result.writes.service == "orders") & (result.writes.key == key)]
    if len(writes):
        return writes.trace_id.iloc[0]
    customers = result.requests[result.requests.load == "customers"]
    return customers.trace_id[customers.request_id == key].iloc[0] \
        if (customers.request_id == key).any() else ""


def _outbox_problem(result, seed):
    writes = result.writes
    written = writes[(writes.service == "orders") & writes.key.map(lambda k: isinstance(k, int))]
    first_write = written.groupby("key").time.min()
    shipped = set(writes.key[writes.service == "shipping"])
    lost = sorted(set(first_write.index) - shipped, key=first_write.get)
    if lost:
        key = lost[0]
        return NotYet(
            f"seed {seed}: order {key} (trace {_trace_of(result, key)}) was written by orders "
            "and never reached shipping. Store the event in orders' own store in the same step "
            "as the order (no yield between the two writes); let the relay publish what is "
            "stored there, and forget an event only once it is published.",
            _order_history(result, key, first_write[key]))
    ghosts = sorted(shipped - set(first_write.index))
    if ghosts:
        key = ghosts[0]
        return NotYet(
            f"seed {seed}: order {key} (trace {_trace_of(result, key)}) reached shipping, but "
            "orders never wrote it: its request failed after the event left. Publish only "
            "events whose order was stored.", _order_history(result, key, math.nan))
    relayed = set(result.requests.trace_id[result.requests.load == "relay"])
    published = result.messages[result.messages.event == "publish"]
    direct = published[~published.trace_id.isin(relayed)]
    if len(direct):
        return NotYet(f"seed {seed}: order {direct.key.iloc[0]} was published by place, not "
                      "by your relay. In this task the relay publishes every event (ctx.outbox "
                      "is the built-in outbox; here you write your own).")
    return None


@task("Task 2 — An outbox, by hand")
def task2(place, relay):
    for name, handler in (("place", place), ("relay", relay)):
        require(inspect.isgeneratorfunction(handler),
                f"{name} must be a handler: a generator function (with yield), as in the stub.")
    crashes = events = 0
    for seed in CHECK_SEEDS:
        handlers = watched(place), watched(relay)
        result = run(outbox_world(*handlers, seed=seed), "outbox_world(place, relay)")
        require_no_memory(handlers[0], "place")
        require_no_memory(handlers[1], "relay")
        problem = _outbox_problem(result, seed)
        if problem:
            raise problem
        crashes += len(result.faults)
        events += (result.messages.event == "publish").sum()
    return (f"on {len(CHECK_SEEDS)} runs with {crashes} crashes of orders, every order "
            f"written reached shipping and nothing else did ({events} events relayed).")


# -- task 3: predict a saga ----------------------------------------------------------------

SAGA_CASES = ({"payments": 0.08, "inventory": 0.12, "shipping": 0.06},
              {"payments": 0.15, "inventory": 0.05, "shipping": 0.10})


@task("Task 3 — Predict a saga")
def task3(predict_completed, predict_refunded):
    sagas = 0
    for rates in SAGA_CASES:
        completed = number(ask(predict_completed, dict(rates)), "predict_completed(...)", 0, 1)
        refunded = number(ask(predict_refunded, dict(rates)), "predict_refunded(...)", 0, 1)
        runs = [run(checkout_saga(rate=30, duration=60, seed=seed, failure_rates=rates)).sagas
                for seed in (2001, 2002)]
        n = sum(len(one) for one in runs)
        done = sum((one.outcome == "completed").sum() for one in runs)
        refund = sum(((one.outcome == "compensated") & (one.steps_done >= 1)).sum()
                     for one in runs)
        for guess, count, what, hint in (
                (completed, done, "completed",
                 "A saga completes only if every one of its steps succeeds."),
                (refunded, refund, "needed a refund",
                 "A refund is needed when payments succeeded and a later step failed; a saga "
                 "whose first step failed has nothing to refund.")):
            share, half = proportion_band(count, n)
            direction = off_by(guess, share, half)
            require(not direction,
                    f"with failure rates {rates} (rates you had not tried) your prediction of "
                    f"the share of sagas that {what} is {direction}: outside the band of "
                    f"{n:,} simulated sagas. {hint}")
        sagas += n
    return f"both predictions hold on {len(SAGA_CASES)} sets of failure rates ({sagas:,} sagas)."


# -- task 4: a redelivery policy with a deadline ---------------------------------------------

POISON_EVERY = 50     # every 50th order is poison
TAX_DOWN = 4.0        # s: how long tax is down
BUDGET = 8.0          # s: poison must be in the DLQ within this time of its publish
FIRST_RETRY = 0.5     # s: the first redelivery comes at most this long after a failure
MOST_DELIVERIES = 6   # deliveries a poison message may cost


def policy_world(max_attempts, redelivery_delay, seed=1, tax_down_at=20.0):
    """Billing asks tax for a quote before it invoices; tax is down for ``TAX_DOWN`` s from
    ``tax_down_at``; every ``POISON_EVERY``-th order is poison."""
    world = sl.World(seed=seed)
    orders = world.service("orders", workers=8, work=sl.Exp(mean=0.005))
    billing = world.service("billing", workers=4, work=sl.Exp(mean=0.020))
    world.service("tax", workers=4, work=sl.Exp(mean=0.005))
    bus = world.broker("bus", max_attempts=max_attempts, redelivery_delay=redelivery_delay)
    bus.topic("order-placed")

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        ctx.publish(bus, "order-placed", order, key=order.id)

    @world.services["tax"].endpoint("quote")
    def quote(ctx, order):
        yield ctx.work()

    @billing.consumer(bus, "order-placed")
    def invoice(ctx, order):
        if order.id % POISON_EVERY == 0:
            raise sl.ServiceError(f"cannot parse order {order.id}")
        yield ctx.call("tax", "quote", order, timeout=0.5)   # fails at once while tax is down
        yield ctx.work()
        ctx.db.write(order.id, "invoiced")

    world.load(sl.Poisson(rate=RATE), target=("orders", "place"), duration=DURATION,
               payload=Order)
    world.faults.crash("tax", at=tax_down_at, duration=TAX_DOWN)
    return world


def time_to_dlq(result):
    """Seconds from publish to dead letter, per dead-lettered message (a Series by key)."""
    return time_to_dead_letter(result).set_index("key").seconds


@task("Task 4 — A redelivery policy with a deadline")
def task4(max_attempts, redelivery):
    attempts = number(max_attempts, "MAX_ATTEMPTS_4", 1, MOST_DELIVERIES, whole=True)
    require(isinstance(redelivery, sl.Exponential) or redelivery is not None
            and not isinstance(redelivery, bool) and isinstance(redelivery, (int, float)),
            f"REDELIVERY_4 must be a number of seconds or an sl.Exponential(...), got "
            f"{redelivery!r}.")
    first = redelivery.delay(1) if isinstance(redelivery, sl.Exponential) else redelivery
    require(first <= FIRST_RETRY, f"the first redelivery comes {first:g} s after a failure; "
            f"rule 3 wants at most {FIRST_RETRY:g} s.")
    worst = 0.0
    for seed, down_at in ((3001, 12.0), (3002, 33.0), (3003, 47.0)):
        result = run(policy_world(attempts, redelivery, seed=seed, tax_down_at=down_at))
        waits = time_to_dlq(result)
        poison = waits.index % POISON_EVERY == 0
        require(poison.all(),
                f"{(~poison).sum()} healthy messages were dead-lettered while tax was down "
                f"(an outage of {TAX_DOWN:g} s, at t = {down_at:g} s in a run you had not "
                "seen). The delays of a message's max_attempts − 1 redeliveries must add up to "
                "more than the outage. Can a fixed delay do it within rules 3 and 4?")
        published = result.messages[result.messages.event == "publish"]
        require(poison.sum() == (published.key % POISON_EVERY == 0).sum(),
                "not every poison message reached the dead-letter queue.")
        worst = max(worst, waits.max())
        require(worst <= BUDGET, f"a poison message took longer than {BUDGET:g} s to reach "
                "the dead-letter queue (rule 2): fewer attempts, or shorter delays.")
    return (f"no healthy message dead-lettered through three {TAX_DOWN:g} s outages; poison "
            f"in the DLQ within {worst:.1f} s, after {attempts} deliveries.")
