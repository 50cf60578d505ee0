"""Checks of exercises 02, eventual consistency (``exercises/02-eventual-consistency.ipynb``).

``flash_sale`` is the model of lesson 02; the notebook imports it from here, so the tasks
and their checks run the same shop.
"""

import statistics

import simlab as sl

from . import ask, interval, number, off_by, require, run, task
from ..scenarios import Order, shop

GROUP = "payments"   # the payments consumer group (topic order-placed)
BURST_AT = 10                     # s: when a flash sale begins
BURST_OVER = 2                    # s: how long it lasts
PAYMENTS_WORK = 0.030             # s: mean work per order in payments


def flash_sale(rate, burst, consumers, partitions=None, payments_work=PAYMENTS_WORK,
               duration=40, scale=None, seed=1):
    """The async shop of lesson 02: ``rate`` orders/s for ``duration`` s, plus ``burst``
    extra orders from ``BURST_AT`` over ``BURST_OVER`` s. Payments has ``consumers``
    consumers (and as many workers); ``partitions`` per topic (None: a shared queue).
    ``scale=(n, at)``: payments' group goes to ``n`` consumers at time ``at``.
    Returns the ``Result``."""
    most = max(consumers, scale[0]) if scale else consumers
    world = shop("async", rate=rate, duration=duration, seed=seed, partitions=partitions,
                 work={"payments": payments_work}, workers={"payments": most},
                 consumers={"payments": consumers})
    world.load(sl.Burst(size=burst, over=BURST_OVER), target=("gateway", "checkout"),
               start=BURST_AT, payload=Order)
    if scale:
        world.brokers["bus"].scale("order-placed", "payments", consumers=scale[0], at=scale[1])
    return world.run()


def group_samples(result):
    """The payments group's rows of ``result.queues``: time, queued, busy."""
    return result.queues[result.queues.group == GROUP][["time", "queued", "busy"]]


def backlog(result):
    """(peak backlog of the payments group, seconds from the start of the sale until
    nothing waits in the group after the peak)."""
    samples = group_samples(result)
    inside = samples.queued + samples.busy
    peak_at = samples.time[inside.idxmax()]
    drained = samples.time[(samples.time > peak_at) & (samples.queued == 0)].min()
    return inside.max(), drained - BURST_AT


# -- task 1: predict the drain time ----------------------------------------------------------

DRAIN_CASES = ((800, 60, 5, 0.04), (1200, 40, 3, 0.03))   # burst, rate, consumers, work


@task("Task 1 — Predict the drain time")
def task1(predict_drain):
    for burst, rate, consumers, work in DRAIN_CASES:
        guess = number(ask(predict_drain, burst, rate, consumers, work),
                       f"predict_drain({burst}, {rate}, {consumers}, {work})", 0)
        drains = [backlog(flash_sale(rate, burst, consumers, None, work, duration=50,
                                     seed=seed))[1] for seed in (6001, 6002, 6003)]
        mean, half = interval(drains)
        direction = off_by(guess, mean, half + 0.1 * mean)
        require(not direction,
                f"a sale of {burst} orders on top of {rate} a second, {consumers} consumers at "
                f"{work * 1000:g} ms each (a case you had not tried): your drain time is "
                f"{direction}, more than 10 % away from the simulated ones. How many messages "
                "a second can the group handle, and how many keep arriving meanwhile?")
    return "the fluid estimate holds: your drain times match the simulated ones within 10 %."


# -- task 2: Little's law from a dashboard ----------------------------------------------------

def time_in_group(result):
    """Seconds from publish to ack, on average, of the messages of the payments group."""
    events = result.messages[(result.messages.topic == "order-placed")
                             & (result.messages.group.isin(["", "payments"]))]
    published = events[events.event == "publish"].set_index("message_id").time
    acked = events[events.event == "ack"].set_index("message_id").time
    return (acked - published).mean()


LITTLE_CASES = ((600, 4, 8), (200, 6, None), (100, 8, 8))   # burst, consumers, partitions


@task("Task 2 — Little's law from a dashboard")
def task2(wait_from_dashboard):
    for burst, consumers, partitions in LITTLE_CASES:
        result = flash_sale(50, burst, consumers, partitions, seed=6101)
        samples = group_samples(result).reset_index(drop=True)
        arrivals = float(result.messages[(result.messages.event == "publish")
                                         & (result.messages.topic == "order-placed")]
                         .shape[0] / result.end_time)
        guess = number(ask(wait_from_dashboard, samples.copy(), arrivals,
                           name="wait_from_dashboard"), "wait_from_dashboard(...)", 0)
        truth = time_in_group(result)
        direction = off_by(guess, truth, 0.05 * truth)
        require(not direction,
                f"for a run you had not seen ({burst} extra orders, {consumers} consumers), "
                f"your estimate is {direction}: more than 5 % away from the messages' real "
                "time from publish to ack. Little's law: the number inside, on average over "
                "time, equals the arrival rate times the time each one spends inside.")
    return "your dashboard estimate matches the messages' real time in the group, run after run."


# -- task 3: a late autoscaler ----------------------------------------------------------------

RATE_3 = 60          # orders/s, steady
BEFORE_3 = 3         # payments consumers until the autoscaler reacts
AFTER_3 = 8          # payments consumers once it has reacted
PEAK_CASES = ((1000, 1.0), (1000, 4.0), (1600, 0.5), (500, 3.0))   # burst, reaction (s)


def late_autoscaler(burst, react_after, seed=1):
    """A sale of ``burst`` orders; payments goes from ``BEFORE_3`` to ``AFTER_3`` consumers
    ``react_after`` seconds after the sale begins (8 partitions)."""
    return flash_sale(RATE_3, burst, BEFORE_3, 8, duration=40,
                      scale=(AFTER_3, BURST_AT + react_after), seed=seed)


@task("Task 3 — A late autoscaler")
def task3(predict_peak):
    for burst, react_after in PEAK_CASES:
        guess = number(ask(predict_peak, burst, react_after),
                       f"predict_peak({burst}, {react_after:g})", 0)
        peaks = [backlog(late_autoscaler(burst, react_after, seed))[0] for seed in (6201, 6202)]
        mean = statistics.fmean(peaks)
        direction = off_by(guess, mean, 0.08 * mean + 10)
        require(not direction,
                f"a sale of {burst} orders, the autoscaler reacting {react_after:g} s after it "
                f"begins (a case you had not tried): your peak is {direction}, more than 8 % "
                "away from the simulated peaks. Follow the backlog phase by phase: how fast it "
                "grows (or shrinks) during the sale before the reaction, during the sale after "
                "it, and after the sale; the peak is where growth stops.")
    return (f"your fluid model of the backlog holds in {len(PEAK_CASES)} cases, early and late "
            "reactions, small and big sales.")
