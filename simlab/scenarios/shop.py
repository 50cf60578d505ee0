"""The shop: one checkout flow, built as a call chain or as a choreography of events.

``shop(style="sync" | "async", ...)`` builds the same checkout flow two ways:

* **sync** — the gateway calls ``orders.place``, which calls payments, inventory,
  shipping and notifications one after another and answers when all are done.
  The customer waits for the whole chain.
* **async** (event-driven, choreographed) — ``orders.place`` records the order, publishes
  ``order-placed`` and answers at once. Payments consumes it and publishes
  ``payment-completed``; inventory consumes that and publishes ``stock-reserved``;
  shipping consumes that and publishes ``shipment-scheduled``; notifications and
  ``tracking`` consume that. The customer waits only for gateway and orders; the rest
  happens later. ``tracking`` is the order-status page: a read model of orders, so
  ``result.consistency`` says how long each order took to show there as shipped.

Both take the same workload from the same random streams, so on the same seed the two
designs see exactly the same customers.

Example:
    >>> world = shop(style="async", rate=50, duration=30)
    >>> result = world.run(seed=1)
"""

from typing import NamedTuple

from .. import checks
from ..distributions import Exp
from ..errors import ModelError
from ..load import Poisson
from ..world import World

SERVICES = ("gateway", "orders", "payments", "inventory", "shipping", "notifications")

#: Mean work per request (seconds) and workers of each service in the shop.
WORK = {"gateway": 0.002, "orders": 0.010, "payments": 0.030, "inventory": 0.010,
        "shipping": 0.020, "notifications": 0.005}
WORKERS = {"gateway": 16, "orders": 8, "payments": 4, "inventory": 4, "shipping": 4,
           "notifications": 2}

#: Mean work of the async design's order-status read model (seconds).
TRACKING_WORK = 0.002

#: The async flow: (topic consumed, service, topic published next or None).
FLOW = (("order-placed", "payments", "payment-completed"),
        ("payment-completed", "inventory", "stock-reserved"),
        ("stock-reserved", "shipping", "shipment-scheduled"),
        ("shipment-scheduled", "notifications", None))

_ENDPOINT = {"payments": "charge", "inventory": "reserve", "shipping": "schedule",
             "notifications": "send"}


class Order(NamedTuple):
    """A customer's order: the payload of the shop."""

    id: int


def _check_per_service(what, mapping, check, **options):
    """A dict of one setting per service: known names, and values ``check`` accepts."""
    if mapping is not None and not isinstance(mapping, dict):
        checks.refuse("shop", what, "a dict with one value per service, such as "
                      "{'payments': ...}", mapping)
    for name, value in (mapping or {}).items():
        if name not in SERVICES:
            raise ModelError(f"shop: {what} names unknown service {name!r}; the shop's services "
                             f"are {list(SERVICES)}")
        check("shop", f"{what}[{name!r}]", value, **options)


def shop(style="sync", rate=50.0, duration=60.0, seed=1, work=None, workers=None,
         outage=None, error_rates=None, latency=0.0005, timeout=None, partitions=None,
         consumers=None):
    """The checkout flow of an online shop, synchronous or event-driven.

    Args:
        style: ``"sync"`` (a call chain) or ``"async"`` (events on a broker).
        rate: orders per second (Poisson).
        duration: seconds of load.
        seed: the world's seed.
        work: mean work time per service, overriding ``WORK`` (e.g. ``{"payments": 0.05}``).
        workers: workers per service, overriding ``WORKERS``.
        outage: ``(service, at, duration)``: that service crashes at ``at`` for ``duration``
            seconds (or a list of such triples).
        error_rates: probability that each request to a service fails, e.g.
            ``{"payments": 0.02}`` (its availability is 1 minus that).
        latency: one-way network delay of each synchronous hop, in seconds.
        timeout: seconds the gateway waits for orders (``None``: no timeout).
        partitions: async only: partitions of every topic (``None``: shared queues).
        consumers: async only: consumers per service's group, e.g. ``{"payments": 2}``
            (default: one per worker).

    Returns:
        A ``World``; call ``.run()`` on it.
    """
    if style not in ("sync", "async"):
        raise ModelError(f"shop: style must be 'sync' or 'async', got {style!r}")
    _check_per_service("work", work, checks.seconds, positive=True)
    _check_per_service("workers", workers, checks.count, none="unlimited workers")
    _check_per_service("error_rates", error_rates, checks.probability)
    _check_per_service("consumers", consumers, checks.count, none="one per worker")
    checks.count("shop", "partitions", partitions, none="shared queues")  # (even for sync)
    means = {**WORK, **(work or {})}
    counts = {**WORKERS, **(workers or {})}
    errors = error_rates or {}
    world = World(seed=seed, latency=latency)
    services = {name: world.service(name, workers=counts[name], work=Exp(mean=means[name]),
                                    error_rate=errors.get(name, 0.0))
                for name in SERVICES}

    @services["gateway"].endpoint("checkout")
    def checkout(ctx, order):
        yield ctx.work()
        yield ctx.call("orders", "place", order, timeout=timeout)

    if style == "sync":
        _sync_orders(services)
    else:
        _async_orders(world, services, partitions, consumers or {})
    world.load(Poisson(rate=rate), target=("gateway", "checkout"), duration=duration,
               payload=Order, name="customers")
    if outage is not None and not isinstance(outage, (tuple, list)):
        checks.refuse("shop", "outage", "a (service, at, seconds) triple, or a list of them",
                      outage)
    outages = [outage] if outage and not isinstance(outage[0], (tuple, list)) else outage or []
    for one in outages:
        if not isinstance(one, (tuple, list)) or len(one) != 3:
            checks.refuse("shop", "outage", "a (service, at, seconds) triple, or a list of them",
                          one)
        service, at, length = one
        world.faults.crash(service, at=checks.seconds("shop", "outage at", at),
                           duration=checks.seconds("shop", "outage seconds", length,
                                                   positive=True))
    return world


def _sync_orders(services):
    @services["orders"].endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        for service in ("payments", "inventory", "shipping", "notifications"):
            yield ctx.call(service, _ENDPOINT[service], order)
        ctx.log("order complete", order=order.id)

    for service in ("payments", "inventory", "shipping", "notifications"):
        services[service].endpoint(_ENDPOINT[service])(_leaf)


def _leaf(ctx, order):
    yield ctx.work()


def _async_orders(world, services, partitions, consumers):
    bus = world.broker("bus")
    for topic, _, _ in FLOW:
        bus.topic(topic, partitions=partitions)

    @services["orders"].endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        ctx.db.write(order.id, "placed")
        ctx.publish(bus, "order-placed", order, key=order.id)
        ctx.log("order accepted", order=order.id)

    for topic, service, next_topic in FLOW:
        services[service].consumer(bus, topic, consumers=consumers.get(service))(
            _step(bus, next_topic))

    tracking = world.service("tracking", workers=2, work=Exp(mean=TRACKING_WORK))

    @tracking.consumer(bus, "shipment-scheduled", view_of="orders")
    def track(ctx, order):
        yield ctx.work()
        ctx.db.write(order.id, "shipped")


def _step(bus, next_topic):
    """A consumer that does its work, then publishes the next event of the flow."""
    def step(ctx, order):
        yield ctx.work()
        if next_topic is not None:
            ctx.publish(bus, next_topic, order, key=order.id)
        else:
            ctx.log("order complete", order=order.id)
    return step
