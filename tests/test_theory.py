"""Faithfulness: the simulator agrees with queueing theory, within its own sampling error.

Every check here compares a simulated mean with a number from theory. A simulated
mean is never exactly right, so the tolerance comes from the run itself: we cut the
customers (in arrival order) into BATCHES consecutive batches, take the mean of each
batch, and use the spread of those batch means as the standard error (SE). Customers
next to each other in a queue are correlated; whole batches of thousands of them are
nearly independent, which is why batch means give an honest SE where the plain
standard deviation of all customers would not.

Each test asserts |simulated - theory| < Z * SE, and also that the SE is small next
to the theory value, so the check is sharp enough to catch a real mistake.
All runs are seeded, so the tests are deterministic.
"""

import math

import numpy as np
import pytest

import simlab as sl
from simlab import theory

BATCHES = 25      # batches for batch means
Z = 4.0           # allowed distance from theory, in standard errors
WARM_UP = 0.05    # share of the first customers (or of the time) thrown away: runs start empty
NO_SAMPLES = 1e9  # sample_every: these tests do not need the queues table


# -- helpers


def batch_means(values, batches=BATCHES):
    """Mean and standard error of ``values`` (in time order) by the method of batch means."""
    values = np.asarray(values, dtype=float)
    size = len(values) // batches
    means = values[: size * batches].reshape(batches, size).mean(axis=1)
    return means.mean(), means.std(ddof=1) / math.sqrt(batches)


def after_warm_up(frame):
    """Drop the first WARM_UP share of rows (``frame`` is in arrival order)."""
    return frame.iloc[int(len(frame) * WARM_UP):]


def assert_agrees(simulated, se, expected, max_relative_se):
    assert se < max_relative_se * expected, (
        f"SE {se:.4g} is too large next to theory {expected:.4g}: the run is too short "
        "for this check to mean anything")
    assert abs(simulated - expected) < Z * se, (
        f"simulated {simulated:.5g}, theory {expected:.5g}, difference "
        f"{(simulated - expected) / se:+.1f} SE (allowed: {Z} SE)")


def add_leaf(world, name, workers, mean_work, queue=None):
    """A leaf service whose handler only computes: an M/M/c station under Poisson load."""
    leaf = world.service(name, workers=workers, work=sl.Exp(mean=mean_work), queue=queue)

    @leaf.endpoint("work")
    def work(ctx, payload):
        yield ctx.work()

    return leaf


def server_spans(result, service):
    """The server spans of ``service``, in order of arrival at it."""
    spans = result.spans
    spans = spans[(spans.service == service) & (spans.kind == "server")]
    return spans.sort_values("start", kind="stable")


# -- (a) one leaf service is an M/M/c queue

MEAN_WORK = 0.010  # seconds, so mu = 100 per second


@pytest.mark.parametrize("workers, rho, customers", [
    (1, 0.5, 60_000),
    (2, 0.8, 100_000),
    (4, 0.9, 300_000),   # heavy traffic: long correlations, so many more customers
])
def test_single_leaf_is_mmc(workers, rho, customers):
    mu = 1 / MEAN_WORK
    lam = rho * workers * mu
    world = sl.World(seed=workers * 100 + int(rho * 10), sample_every=NO_SAMPLES)
    add_leaf(world, "leaf", workers, MEAN_WORK)
    world.load(sl.Poisson(rate=lam), target=("leaf", "work"), duration=customers / lam)
    result = world.run()

    spans = after_warm_up(server_spans(result, "leaf"))
    assert (spans.status == "ok").all()
    assert len(spans) > 0.9 * customers

    # Wq: the time a customer waits for a worker (Erlang C).
    wait, wait_se = batch_means(spans["wait"])
    assert_agrees(wait, wait_se, theory.mmc_wait(lam, mu, workers), max_relative_se=0.10)

    # W = Wq + 1/mu: the time a customer spends in the station.
    sojourn, sojourn_se = batch_means(spans["duration"])
    assert_agrees(sojourn, sojourn_se, theory.mmc_sojourn(lam, mu, workers),
                  max_relative_se=0.05)


def test_mmc_check_is_sharp_enough_to_see_one_worker_missing():
    """The tolerance is not so loose that M/M/2 would pass for M/M/3 at the same load."""
    mu, lam = 1 / MEAN_WORK, 160.0
    world = sl.World(seed=5, sample_every=NO_SAMPLES)
    add_leaf(world, "leaf", 2, MEAN_WORK)
    world.load(sl.Poisson(rate=lam), target=("leaf", "work"), duration=60_000 / lam)
    spans = after_warm_up(server_spans(world.run(), "leaf"))
    wait, se = batch_means(spans["wait"])
    assert abs(wait - theory.mmc_wait(lam, mu, 2)) < Z * se
    assert abs(wait - theory.mmc_wait(lam, mu, 3)) > Z * se


# -- (b) a Jackson tandem: the mean sojourns add up


def test_jackson_tandem_latency():
    lam = 100.0
    stations = {"first": (1, 0.5), "second": (2, 0.7), "third": (3, 0.8)}  # name: (c, rho)
    world = sl.World(seed=11, sample_every=NO_SAMPLES)
    entry = world.service("entry", workers=None)  # no work, no queue: it only calls
    for name, (c, rho) in stations.items():
        add_leaf(world, name, c, mean_work=rho * c / lam)

    @entry.endpoint("go")
    def go(ctx, payload):
        for name in stations:
            yield ctx.call(name, "work", payload)

    customers = 60_000
    world.load(sl.Poisson(rate=lam), target=("entry", "go"), duration=customers / lam)
    requests = world.run().requests.sort_values("request_id")
    assert (requests.outcome == "ok").all()

    latency, se = batch_means(after_warm_up(requests).latency)
    expected = theory.tandem_sojourn(lam, [(lam / (rho * c), c) for c, rho in stations.values()])
    assert_agrees(latency, se, expected, max_relative_se=0.05)


# -- (c) Little's law: L = lambda * W, at a station and for whole requests


def time_average_in_system(starts, ends, edges):
    """Exact time-average number of intervals [start, end) open in each window of ``edges``."""
    starts = np.asarray(starts)[:, None]
    ends = np.asarray(ends)[:, None]
    lo, hi = edges[None, :-1], edges[None, 1:]
    overlap = np.clip(np.minimum(ends, hi) - np.maximum(starts, lo), 0, None)
    return overlap.sum(axis=0) / np.diff(edges)


def mean_sojourn_by_arrival(starts, ends, edges):
    """Mean of (end - start) for the intervals that start in each window of ``edges``."""
    starts, ends = np.asarray(starts), np.asarray(ends)
    which = np.digitize(starts, edges) - 1
    inside = (which >= 0) & (which < len(edges) - 1)
    total = np.bincount(which[inside], weights=(ends - starts)[inside], minlength=len(edges) - 1)
    count = np.bincount(which[inside], minlength=len(edges) - 1)
    return total / count


def littles_law_gap(starts, ends, lam, t0, t1):
    """Batch means of L - lam * W over BATCHES equal time windows of [t0, t1].

    L is computed exactly from the intervals; W is the mean sojourn of the customers
    that arrive in the window; lam is the arrival rate the load was built with.
    Returns (mean gap, its SE, mean L).
    """
    edges = np.linspace(t0, t1, BATCHES + 1)
    in_system = time_average_in_system(starts, ends, edges)
    gaps = in_system - lam * mean_sojourn_by_arrival(starts, ends, edges)
    return gaps.mean(), gaps.std(ddof=1) / math.sqrt(BATCHES), in_system.mean()


LITTLE_RATE = 150.0
LITTLE_DURATION = 120.0


@pytest.fixture(scope="module")
def shop_result():
    """gateway -> orders -> payments; orders has long-tailed work and holds its worker
    while it waits on payments, so no textbook formula gives its sojourn. Little's law
    holds anyway."""
    world = sl.World(seed=3, sample_every=NO_SAMPLES)
    gateway = world.service("gateway", workers=8, work=sl.Exp(mean=0.002))
    orders = world.service("orders", workers=6, work=sl.LogNormal(median=0.010, p99=0.050))
    add_leaf(world, "payments", workers=2, mean_work=0.004)

    @gateway.endpoint("checkout")
    def checkout(ctx, order):
        yield ctx.work()
        yield ctx.call("orders", "place", order)

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        yield ctx.call("payments", "work", order)

    world.load(sl.Poisson(rate=LITTLE_RATE), target=("gateway", "checkout"),
               duration=LITTLE_DURATION)
    return world.run()


@pytest.mark.parametrize("whole", [False, True], ids=["orders-station", "whole-requests"])
def test_littles_law(shop_result, whole):
    """At the orders station, and for whole requests: L = lambda W."""
    rows = shop_result.requests if whole else server_spans(shop_result, "orders")
    assert ((rows.outcome if whole else rows.status) == "ok").all()
    t0 = WARM_UP * LITTLE_DURATION
    gap, se, in_system = littles_law_gap(rows.start, rows.end, LITTLE_RATE, t0, LITTLE_DURATION)
    assert se < 0.05 * in_system
    assert abs(gap) < Z * se, f"L - lambda W = {gap:.4f} ({gap / se:+.1f} SE), L = {in_system:.3f}"


# -- (d) availability of a synchronous chain: the success rates multiply


def calls_next(callee):
    """A handler that computes, then calls ``callee`` (if any) and waits for it."""
    def handle(ctx, payload):
        yield ctx.work()
        if callee is not None:
            yield ctx.call(callee, "handle", payload)
    return handle


def test_error_rates_multiply_along_a_chain():
    error_rates = {"gateway": 0.02, "orders": 0.05, "payments": 0.10}
    world = sl.World(seed=21, sample_every=NO_SAMPLES)
    chain = list(error_rates)
    for name, callee in zip(chain, chain[1:] + [None]):
        service = world.service(name, workers=None, work=sl.Exp(mean=0.001),
                                error_rate=error_rates[name])
        service.endpoint("handle")(calls_next(callee))

    world.load(sl.Poisson(rate=1000), target=("gateway", "handle"), duration=20)
    result = world.run()
    requests = result.requests
    n = len(requests)
    assert set(requests.outcome) == {"ok", "error"}

    def assert_binomial(successes, trials, p):
        se = math.sqrt(p * (1 - p) / trials)
        assert se < 0.01
        assert abs(successes / trials - p) < Z * se, (successes / trials, p, se)

    # The chain succeeds only if every service does: P = (1 - p1)(1 - p2)(1 - p3).
    assert_binomial((requests.outcome == "ok").sum(), n,
                    math.prod(1 - p for p in error_rates.values()))
    # The leaf fails on its own, whatever its callers do.
    leaf = server_spans(result, "payments")
    assert_binomial((leaf.status == "ok").sum(), len(leaf), 1 - error_rates["payments"])


# -- (e) no waiting room: a service with queue=0 is an Erlang loss system


def erlang_b(c, offered):
    """Probability that an arrival finds all ``c`` workers busy, with no queue (Erlang B)."""
    blocked = 1.0
    for k in range(1, c + 1):
        blocked = offered * blocked / (k + offered * blocked)
    return blocked


def test_queue_zero_rejects_as_erlang_b_says():
    workers, mu, lam = 3, 1 / MEAN_WORK, 250.0   # offered load: 2.5 workers' worth
    world = sl.World(seed=41, sample_every=NO_SAMPLES)
    add_leaf(world, "leaf", workers, MEAN_WORK, queue=0)
    customers = 40_000
    world.load(sl.Poisson(rate=lam), target=("leaf", "work"), duration=customers / lam)
    requests = after_warm_up(world.run().requests.sort_values("request_id"))
    rejected, se = batch_means(requests.outcome == "rejected")
    assert_agrees(rejected, se, erlang_b(workers, lam / mu), max_relative_se=0.05)


# -- (f) a consumer group with c consumers is an M/M/c queue too, and obeys Little's law


GROUP_RATE = 160.0
GROUP_DURATION = 400.0


@pytest.fixture(scope="module")
def group_result():
    """Every request publishes one message; 2 shipping consumers handle them at rho = 0.8."""
    world = sl.World(seed=31, sample_every=0.05)
    front = world.service("front", workers=None)
    shipping = world.service("shipping", workers=2, work=sl.Exp(mean=MEAN_WORK))
    bus = world.broker("bus", topics=["orders"])

    @front.endpoint("order")
    def order(ctx, payload):
        yield ctx.sleep(0)
        ctx.publish(bus, "orders", payload)

    @shipping.consumer(bus, "orders")
    def ship(ctx, payload):
        yield ctx.work()

    world.load(sl.Poisson(rate=GROUP_RATE), target=("front", "order"),
               duration=GROUP_DURATION)
    return world.run()


def message_times(result):
    """Per message, in order of publication: when it was published, delivered, acked."""
    messages = result.messages
    times = {event: messages[messages.event == event].set_index("message_id").time
             for event in ("publish", "deliver", "ack")}
    frame = times["publish"].rename("publish").to_frame()
    frame["deliver"], frame["ack"] = times["deliver"], times["ack"]
    return frame.sort_values("publish")


def test_consumer_group_is_mmc(group_result):
    times = after_warm_up(message_times(group_result))
    assert times.notna().all().all()  # each message delivered once and acked
    mu = 1 / MEAN_WORK
    wait, se = batch_means(times.deliver - times.publish)
    assert_agrees(wait, se, theory.mmc_wait(GROUP_RATE, mu, 2), max_relative_se=0.10)
    sojourn, se = batch_means(times.ack - times.publish)
    assert_agrees(sojourn, se, theory.mmc_sojourn(GROUP_RATE, mu, 2), max_relative_se=0.05)


def test_littles_law_for_a_consumer_group(group_result):
    """L from the sampled backlog (queues table), W from the messages table: two
    different records of the same run."""
    times = message_times(group_result)
    queues = group_result.queues
    samples = queues[(queues.topic == "orders") & (queues.group == "shipping")]
    edges = np.linspace(WARM_UP * GROUP_DURATION, GROUP_DURATION, BATCHES + 1)
    window = np.digitize(samples.time, edges) - 1
    inside = (window >= 0) & (window < BATCHES)
    backlog = (samples.queued + samples.busy)[inside].groupby(window[inside]).mean()
    sojourn = mean_sojourn_by_arrival(times.publish, times.ack, edges)
    gaps = backlog.to_numpy() - GROUP_RATE * sojourn
    gap, se = gaps.mean(), gaps.std(ddof=1) / math.sqrt(BATCHES)
    assert se < 0.05 * backlog.mean()
    assert abs(gap) < Z * se, f"L - lambda W = {gap:.4f} ({gap / se:+.1f} SE)"


# -- the formulas themselves, against cases worked out by hand


def test_theory_formulas_match_textbook_cases():
    # M/M/1: Wq = rho / (mu - lam).
    assert theory.mmc_wait(lam=8, mu=10, c=1) == pytest.approx(0.8 / 2)
    # M/M/2 with lam = 1, mu = 1: P(wait) = 1/3, Wq = (1/3) / (2 - 1).
    assert theory.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert theory.mmc_sojourn(lam=1, mu=1, c=2) == pytest.approx(1 / 3 + 1)
    # Erlang B, used above: two workers, offered load 1: (1/2) / (1 + 1 + 1/2).
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    with pytest.raises(sl.ModelError, match="unstable"):
        theory.mmc_wait(lam=20, mu=10, c=2)
