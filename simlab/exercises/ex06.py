"""Checks of exercises 06, watch a request (``exercises/06-watch-a-request.ipynb``).

The model the tasks use is defined here, so that the notebook and its checks share one
definition: ``incident(seed)``, a shop whose seed plants one problem — which service,
and which kind — that the learner must find from its telemetry alone. Task 1 judges a
``diagnose(result)`` on seeds the learner has not seen; task 2 a pool size against a
latency target, on several seeds.
"""

import math

import simlab as sl

from . import ask, interval, number, require, run, task
from ..randomness import stream

RATE = 40.0           # checkouts per second
DURATION = 20.0       # s of load
ITEMS = 12            # items in a cart: what a service loads from the cache
SUSPECTS = ("accounts", "catalog", "pricing", "stock")
KINDS = ("slow-query", "n-plus-one", "small-pool", "flaky-retries")
ENDPOINTS = {"accounts": "get", "catalog": "browse", "pricing": "quote", "stock": "check"}
#: Who calls whom: the frontend calls accounts and catalog; catalog, pricing, stock in a chain.
CALLS = {"frontend": ("accounts", "catalog"), "accounts": (), "catalog": ("pricing",),
         "pricing": ("stock",), "stock": ()}
QUERY = sl.LogNormal(median=0.003, p99=0.010)        # s: a service's own query, indexed
SLOW_QUERY = sl.LogNormal(median=0.060, p99=0.250)   # ... and without its index
FAILING = 0.3         # share of requests a flaky service fails
WORK = {"accounts": 0.012, "catalog": 0.002, "pricing": 0.004, "stock": 0.010}  # s, mean
HEALTHY_POOL = 32     # workers of a healthy service
#: Workers of a service with a small pool: each then works 60 to 80 % of the time.
SMALL_POOL = {"accounts": 1, "catalog": 2, "pricing": 2, "stock": 1}
RETRY = sl.Retry(attempts=4, backoff=sl.Exponential(0.02))   # every caller retries
#: Seeds nobody tried in the notebook: every kind twice, every suspect at least once.
CHECK_SEEDS = (1001, 1002, 1003, 1004, 1009, 1012, 1027, 1029)


def _planted(seed):
    """The problem the seed plants: (service, kind). Drawn from its own stream."""
    draw = stream(seed, "ex06:incident")
    return draw.choice(SUSPECTS), draw.choice(KINDS)


def incident(seed=1, problem=None, rate=RATE, duration=DURATION, workers=None):
    """The shop, with one problem: the one its seed plants, or ``problem``, a pair
    ``(service, kind)`` to practise on (``None`` for no problem at all: ``problem=()``).

    frontend.checkout calls accounts.get and catalog.browse; catalog calls pricing.quote,
    which calls stock.check. Each of these four queries its own database (work of its
    own, logged with the SQL), loads the cart's ``ITEMS`` items from ``cache`` in one
    call (``mget``), and every caller retries a failed call (``RETRY``).

    ``workers``: a dict overriding the workers of some services (for task 2).
    """
    service, kind = (_planted(seed) if problem is None else problem) or (None, None)
    if service is not None and (service not in SUSPECTS or kind not in KINDS):
        raise sl.ModelError(f"incident: problem must be (service, kind) with a service in "
                            f"{SUSPECTS} and a kind in {KINDS}; got {problem!r}")
    unknown = sorted(set(workers or {}) - set(SUSPECTS))
    if unknown:
        raise sl.ModelError(f"incident: workers names {unknown}; only the workers of "
                            f"{SUSPECTS} can be set")
    world = sl.World(seed=seed, latency=0.001)
    frontend = world.service("frontend", workers=64, work=sl.Exp(mean=0.001))
    cache = world.service("cache", workers=None, work=sl.Exp(mean=0.0005))
    for name in SUSPECTS:
        pool = SMALL_POOL[name] if (name, kind) == (service, "small-pool") else HEALTHY_POOL
        pool = (workers or {}).get(name, pool)
        suspect = world.service(name, workers=pool, work=sl.Exp(mean=WORK[name]))
        suspect.endpoint(ENDPOINTS[name])(_handler(name, kind if name == service else None))

    @frontend.endpoint("checkout")
    def checkout(ctx, cart):
        yield ctx.work()
        ctx.log("checkout", cart=cart.id)
        for callee in CALLS["frontend"]:
            yield ctx.call(callee, ENDPOINTS[callee], cart, retry=RETRY)

    @cache.endpoint("get")
    def get(ctx, item):
        yield ctx.work()

    @cache.endpoint("mget")
    def mget(ctx, items):
        yield ctx.work()

    world.load(sl.Poisson(rate=rate), target=("frontend", "checkout"), duration=duration,
               name="shoppers")
    return world


def _handler(name, kind):
    """The handler of suspect ``name``, with problem ``kind`` (None: healthy)."""
    query = SLOW_QUERY if kind == "slow-query" else QUERY
    sql = f"SELECT * FROM {name} WHERE cart_id = ?"

    def handle(ctx, cart):
        yield ctx.work()                                  # compute
        yield ctx.work(query)                             # its own database
        ctx.log("query", table=name, sql=sql, cart=cart.id)
        if kind == "n-plus-one":
            for item in range(ITEMS):                     # one call per item ...
                yield ctx.call("cache", "get", item)
        else:
            yield ctx.call("cache", "mget", tuple(range(ITEMS)))   # ... or one for all
        if kind == "flaky-retries" and ctx.random() < FAILING:
            ctx.log("connection reset by peer", level="error", cart=cart.id)
            raise sl.ServiceError("connection reset by peer")
        for callee in CALLS[name]:
            yield ctx.call(callee, ENDPOINTS[callee], cart, retry=RETRY)

    handle.__name__ = ENDPOINTS[name]
    return handle


# -- task 1: a diagnosis that works on any seed ------------------------------------------

HINTS = {
    "service": "A service's span lasts as long as the calls it waits for: the caller of a "
               "slow service looks slow too. Compare what each service spends itself (its "
               "self time), the time its requests wait for a worker, its failures and how "
               "many calls it makes.",
    "cause": "Where does the time go: in the service's own work, in waiting for a "
                  "worker, in retries, or in many small calls?",
}


@task("Task 1 — Diagnose from telemetry alone")
def task1(diagnose):
    for seed in CHECK_SEEDS:
        result = run(incident(seed), f"incident({seed})")
        answer = ask(diagnose, result)
        require(isinstance(answer, tuple) and len(answer) == 2,
                f"diagnose(result) must return a pair (service, cause), got {answer!r}.")
        service, cause = answer
        require(cause in KINDS, f"diagnose said the cause is {cause!r}; name one of {KINDS}.")
        require(service in SUSPECTS or service in ("frontend", "cache"),
                f"diagnose blamed {service!r}, which is not a service of this shop.")
        truth = _planted(seed)
        require(service == truth[0],
                f"on seed {seed}, a shop you had not seen, diagnose blamed the wrong service. "
                + HINTS["service"] + " Practise with incident(seed, problem=(service, kind)).")
        require(cause == truth[1],
                f"on seed {seed}, diagnose found the right service but not the cause. "
                + HINTS["cause"] + " Practise with incident(seed, problem=(service, kind)).")
    return (f"right on {len(CHECK_SEEDS)} shops you had not seen, every kind of problem "
            "among them.")


# -- task 2: a pool that meets a latency target --------------------------------------------

BUSY = "pricing"          # task 2: the service with the small pool ...
BUSY_RATE = 80.0          # ... under twice the load (checkouts per second)
TARGET = 0.130            # s: the p99 the checkout must meet, on every seed
POOL_SEEDS = (2001, 2002, 2003, 2004, 2005)


def pool_world(workers, seed=1):
    """Task 2: the shop at ``BUSY_RATE`` checkouts per second, with ``workers`` workers
    for pricing (and no other problem)."""
    return incident(seed, problem=(), rate=BUSY_RATE, workers={BUSY: workers})


def _p99s(workers):
    return [run(pool_world(workers, seed), f"pool_world({workers})").summary().latency_p99
            for seed in POOL_SEEDS]


@task("Task 2 — A pool that meets the target")
def task2(workers):
    workers = number(workers, "WORKERS_2", 1, 64, whole=True)
    p99s = _p99s(workers)
    worst = max(p99s)
    require(not math.isnan(worst) and worst <= TARGET,
            f"with {workers} workers for {BUSY}, the checkout's p99 is {worst * 1000:.0f} ms on "
            f"one of {len(POOL_SEEDS)} seeds you had not tried: over the target of "
            f"{TARGET * 1000:.0f} ms. Where do the slow requests spend their time?")
    if workers > 2:
        fewer = workers - 2
        mean, _ = interval(_p99s(fewer))
        require(mean > TARGET,
                f"{workers} workers meet the target, and so would a smaller pool: a worker "
                f"costs money. How busy is each of {BUSY}'s workers?")
    # The check accepts one worker more than needed; say which of the two this pool is.
    one_fewer_meets = workers > 1 and max(_p99s(workers - 1)) <= TARGET
    verdict = ("one fewer would meet it too: your pool is within one worker of the smallest"
               if one_fewer_meets else "one fewer would not: the smallest pool that does")
    return (f"{workers} workers keep the p99 at {worst * 1000:.0f} ms at most on "
            f"{len(POOL_SEEDS)} seeds, and {verdict}.")
