"""Performance mysteries to solve with traces and logs (lesson 06).

A ride-hailing service in the style of Jaeger's HotROD demo. A customer asks for a ride;
``frontend.dispatch`` answers with a driver and a route:

1. ``customer.get`` loads the customer's pickup address (one query to ``mysql``);
2. ``driver.find`` searches the drivers near the pickup (a geo query to ``mysql``), then
   loads the ``CANDIDATES`` drivers it found (one query for all of them);
3. ``route.find`` computes the route from the best driver to the pickup;
4. the frontend publishes ``ride-dispatched`` on the broker, and ``notifications``
   texts the driver (a consumer: the business flow goes on after the answer; with
   ``propagate=False`` it is a legacy consumer that drops the trace context).

Six services; ``mysql`` is the database, its workers the connections of its pool, shared
by every service that queries it. Every service logs what it does, with attributes
(the customer, the SQL, the rows, the candidates), on lines that carry the trace id.

``mystery(name)`` plants one problem in this world, and ``mystery(name, fixed=True)`` is
the same world with its one knob turned to fix it:

* ``"slow-query"`` — the customer table lost its index: ``customer.get``'s query scans
  the table (knob ``index``: False, True).
* ``"n-plus-one"`` — ``driver.find`` loads its candidates one query at a time, where one
  query for all would do (knob ``batch``, drivers per query: 1, 10).
* ``"small-pool"`` — ``route`` runs with too few workers for its load (knob
  ``route_workers``: 1, 8).
* ``"flaky-retries"`` — a bad release of ``customer`` fails 30 % of its requests; the
  frontend's retries hide most failures and pay with latency (knob
  ``customer_errors``: 0.3, 0).
* ``"shared-pool"`` — ``mysql`` has a single connection: the customer's quick lookup
  waits behind the drivers' slow geo queries of other requests (knob ``pool``: 1, 8).

``MYSTERIES[name]`` says where each problem is (service, operation) and what its knob is;
``dispatch(...)`` builds the world with every knob of your choosing.

Example:
    >>> result = mystery("n-plus-one").run()
    >>> fixed = mystery("n-plus-one", fixed=True).run()
    >>> fixed.summary().latency_p99 < result.summary().latency_p99
    True
"""

from typing import NamedTuple

from .. import checks
from ..distributions import Exp, LogNormal
from ..errors import CallError, ModelError, ServiceError
from ..load import Poisson
from ..resilience import Exponential, Retry
from ..world import World

RATE = 25.0         # rides asked for per second
DURATION = 30.0     # s of load
LATENCY = 0.001     # s: one-way network delay of every call (a data centre)
CANDIDATES = 10     # drivers near a pickup, loaded by driver.find
CUSTOMERS = (123, 392, 567, 731)   # the customers who ask for rides (HotROD's four)

#: The queries, by name: table, SQL, and time to run (log-normal: median, p99, seconds).
QUERIES = {
    "customer": ("customer", "SELECT * FROM customer WHERE customer_id = ?",
                 LogNormal(0.002, 0.008)),
    "customer, no index": ("customer", "SELECT * FROM customer WHERE customer_id = ?",
                           LogNormal(0.150, 0.500)),
    "nearby": ("driver_location",
               "SELECT driver_id FROM driver_location WHERE ST_Distance(location, ?) < 5000",
               LogNormal(0.015, 0.060)),
    "one driver": ("driver", "SELECT * FROM driver WHERE driver_id = ?",
                   LogNormal(0.008, 0.020)),
    "drivers": ("driver", "SELECT * FROM driver WHERE driver_id IN (?, ?, ...)",
                LogNormal(0.010, 0.030)),
}

#: The healthy setting of each knob.
HEALTHY = {"index": True, "batch": CANDIDATES, "route_workers": 8, "customer_errors": 0.0,
           "pool": 8}


class Mystery(NamedTuple):
    """Where a planted problem is, and the knob that fixes it."""

    service: str        # the service whose own work or workers cause it
    operation: str      # its endpoint
    knob: str           # the parameter of dispatch(...) that fixes it
    broken: object      # the knob's value in the mystery
    fixed: object       # the knob's value that fixes it
    story: str          # what went wrong, in one line


MYSTERIES = {
    "slow-query": Mystery("mysql", "query", "index", False, True,
                          "the customer table lost its index: every lookup scans it"),
    "n-plus-one": Mystery("driver", "find", "batch", 1, CANDIDATES,
                          "driver.find loads its candidates one query at a time"),
    "small-pool": Mystery("route", "find", "route_workers", 1, HEALTHY["route_workers"],
                          "route has one worker for a load that needs two"),
    "flaky-retries": Mystery("customer", "get", "customer_errors", 0.3, 0.0,
                             "a bad release of customer fails 30 % of its requests"),
    "shared-pool": Mystery("mysql", "query", "pool", 1, HEALTHY["pool"],
                           "mysql has one connection, shared by customer and driver"),
}


class Ride(NamedTuple):
    """A customer's request for a ride: the payload of ``frontend.dispatch``."""

    id: int
    customer: int


class Query(NamedTuple):
    """What a service asks ``mysql``: the SQL, and how long it takes to run."""

    table: str
    sql: str
    cost: LogNormal
    rows: int = 1


def _query(name, rows=1):
    return Query(*QUERIES[name], rows)


def dispatch(rate=RATE, duration=DURATION, seed=1, index=True, batch=CANDIDATES,
             route_workers=8, customer_errors=0.0, pool=8, propagate=True):
    """The ride-hailing world with every knob (the defaults are healthy).

    Args:
        rate: rides asked for per second (Poisson); duration: seconds of load.
        index: whether the customer table has its index (without: a slow scan).
        batch: drivers loaded per query by ``driver.find`` (1: one query per driver).
        route_workers: workers of ``route``.
        customer_errors: probability that ``customer.get`` fails (the frontend retries
            it up to 4 times, with a backoff of 50 ms, doubling).
        pool: connections of ``mysql`` (its workers), shared by all its callers.
        propagate: whether ``notifications`` reads the trace context a message carries
            (False: a legacy consumer, whose spans and log lines start traces of their own).

    Returns:
        A ``World``; call ``.run()`` on it.
    """
    _check_knobs(batch, customer_errors, route_workers, pool)
    world = World(seed=seed, latency=LATENCY)
    frontend = world.service("frontend", workers=64, work=Exp(mean=0.001))
    customer = world.service("customer", workers=16, work=Exp(mean=0.001))
    driver = world.service("driver", workers=16, work=Exp(mean=0.002))
    route = world.service("route", workers=route_workers,
                          work=LogNormal(median=0.030, p99=0.100))
    mysql = world.service("mysql", workers=pool)
    notifications = world.service("notifications", workers=4, work=Exp(mean=0.005))
    bus = world.broker("bus", topics=["ride-dispatched"])
    # The handlers are below; the two with a knob are made for its value.
    frontend.endpoint("dispatch")(dispatch_ride)
    customer.endpoint("get")(customer_get(index, customer_errors))
    driver.endpoint("find")(driver_find(batch))
    route.endpoint("find")(find_route)
    mysql.endpoint("query")(run_query)
    notifications.consumer(bus, "ride-dispatched", propagate=propagate)(text_driver)
    world.load(Poisson(rate=rate), target=("frontend", "dispatch"), duration=duration,
               payload=ride_of, name="riders")
    return world


def _check_knobs(batch, customer_errors, route_workers, pool):
    checks.count("dispatch", "batch", batch)
    if batch > CANDIDATES:
        raise ModelError(f"dispatch: batch={batch}, but driver.find loads {CANDIDATES} "
                         f"drivers; use 1 to {CANDIDATES}")
    checks.probability("dispatch", "customer_errors", customer_errors)
    # Passed on under another name (workers), so checked here under their own.
    checks.count("dispatch", "route_workers", route_workers, none="unlimited workers")
    checks.count("dispatch", "pool", pool, none="unlimited connections")


def ride_of(number):
    """The ``number``-th ride: the customers take turns."""
    return Ride(id=number, customer=CUSTOMERS[number % len(CUSTOMERS)])


# -- the handlers, one per endpoint

def dispatch_ride(ctx, ride):
    """frontend.dispatch: the customer's pickup, the drivers near it, a route; then the
    news on the broker, for notifications."""
    yield ctx.work()
    ctx.log("dispatch requested", ride=ride.id, customer=ride.customer)
    try:
        pickup = yield ctx.call("customer", "get", ride,
                                retry=Retry(attempts=4, backoff=Exponential(0.05)))
    except CallError as failure:
        ctx.log("dispatch failed", level="error", ride=ride.id, customer=ride.customer,
                reason=str(failure))
        raise
    drivers = yield ctx.call("driver", "find", pickup)
    eta = yield ctx.call("route", "find", (drivers[0], pickup))
    ctx.publish("bus", "ride-dispatched", ride, key=ride.id)
    ctx.log("ride dispatched", ride=ride.id, driver=drivers[0], eta_min=eta)


def customer_get(index, errors):
    """The handler of customer.get: one query for the customer (a scan without the
    ``index``); a bad release fails with probability ``errors`` first."""
    def get_customer(ctx, ride):
        yield ctx.work()
        ctx.log("loading customer", customer=ride.customer)
        if errors and ctx.random() < errors:
            ctx.log("deadlock found when trying to get lock", level="error",
                    customer=ride.customer, release="2.3.1")
            raise ServiceError("deadlock: transaction rolled back")
        yield ctx.call("mysql", "query", _query("customer" if index else "customer, no index"))
        return f"pickup of customer {ride.customer}"

    return get_customer


def driver_find(batch):
    """The handler of driver.find: a geo query for the drivers near the pickup, then
    their records, ``batch`` drivers per query (1: the N + 1 queries)."""
    def find_drivers(ctx, pickup):
        yield ctx.work()
        found = yield ctx.call("mysql", "query", _query("nearby", rows=CANDIDATES))
        ctx.log("drivers near pickup", candidates=found)
        for first in range(0, CANDIDATES, batch):
            size = min(batch, CANDIDATES - first)
            yield ctx.call("mysql", "query", _query("one driver" if size == 1 else "drivers",
                                                    rows=size))
        return [f"T7{number:02d}C" for number in range(CANDIDATES)]

    return find_drivers


def find_route(ctx, leg):
    """route.find: the route from the driver to the pickup, and its time in minutes."""
    yield ctx.work()
    eta = round(2 + 8 * ctx.random(), 1)
    ctx.log("route computed", driver=leg[0], eta_min=eta)
    return eta


def run_query(ctx, query):
    """mysql.query: run the statement (it holds a connection, a worker, meanwhile)."""
    yield ctx.work(query.cost)
    ctx.log("query", table=query.table, sql=query.sql, rows=query.rows)
    return query.rows


def text_driver(ctx, ride):
    """notifications: text the driver, once the ride is dispatched (a consumer)."""
    yield ctx.work()
    ctx.log("driver notified", ride=ride.id)


def mystery(name, fixed=False, rate=RATE, duration=DURATION, seed=1):
    """The ride-hailing world with the problem ``name`` planted (or, ``fixed=True``,
    with its knob turned to fix it). ``MYSTERIES[name]`` says where it is."""
    if name not in MYSTERIES:
        raise ModelError(f"mystery: unknown mystery {name!r}; choose one of {list(MYSTERIES)}")
    found = MYSTERIES[name]
    knobs = {found.knob: found.fixed if fixed else found.broken}
    return dispatch(rate=rate, duration=duration, seed=seed, **knobs)
