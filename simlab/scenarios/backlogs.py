"""Backlogs and order (lessons 02 and 03): a flash sale on the async shop, and an address
book whose events may overtake one another."""

from .. import checks
from ..distributions import Exp
from ..load import Burst, Poisson
from ..world import World
from .shop import WORK, Order, shop


def flash_sale(rate=50.0, burst=600, consumers=4, partitions=8, payments_work=WORK["payments"],
               duration=60.0, burst_at=15.0, burst_over=2.0, scale=None, seed=1):
    """The async shop of lesson 01 with a flash sale on top of its steady load.

    Args:
        rate: steady orders per second (Poisson), for ``duration`` seconds.
        burst: extra orders of the sale (``sl.Burst``), from ``burst_at`` over
            ``burst_over`` seconds; 0: no sale.
        consumers: payments consumers (and as many payments workers), each handling one
            message at a time: the group can handle ``consumers / payments_work`` a second.
        partitions: partitions of every topic, keyed by order id (``None``: shared queues).
        payments_work: mean seconds of payments' work per order.
        scale: ``(n, at)``: payments' group goes to ``n`` consumers at time ``at`` (an
            autoscaler that reacts late).

    Returns:
        A ``World``. ``sl.metrics.backlog(result, "order-placed", "payments")`` follows
        the payments group's backlog.
    """
    checks.count("flash_sale", "burst", burst, least=0)
    checks.count("flash_sale", "consumers", consumers)
    checks.seconds("flash_sale", "payments_work", payments_work, positive=True)
    checks.seconds("flash_sale", "burst_at", burst_at)
    checks.seconds("flash_sale", "burst_over", burst_over, positive=True)
    most = max(consumers, scale[0]) if scale else consumers   # workers for every consumer
    world = shop("async", rate=rate, duration=duration, seed=seed, partitions=partitions,
                 work={"payments": payments_work}, workers={"payments": most},
                 consumers={"payments": consumers})
    if burst:
        world.load(Burst(size=burst, over=burst_over), target=("gateway", "checkout"),
                   start=burst_at, payload=Order)
    if scale:
        world.brokers["bus"].scale("order-placed", "payments", consumers=scale[0], at=scale[1])
    return world


def _show_address(ctx, change):
    customer, _ = change
    yield ctx.work()
    ctx.db.write(customer)   # no value: the read model stores the version the event carries


def address_book(show_address=_show_address, partitions=None, customers=8, rate=120.0,
                 duration=20.0, crashes=0, redelivery_delay=1.0, seed=1):
    """Customers keep changing their delivery address; a profile page shows it.

    ``accounts`` stores each change (versions 1, 2, 3 ... per customer) and publishes
    ``(customer, version)`` on ``address-changed``, keyed by customer. ``profile``, a
    read model of accounts with 4 consumers, applies each event with ``show_address``
    (by default: write whatever arrives). On a shared queue (``partitions=None``) two
    changes of one customer may be handled at once and finish out of order.

    Args:
        customers: how many customers; rate: address changes per second, all together.
        crashes: random crashes of profile, 0.2 to 1 s each.

    Returns:
        A ``World``.
    """
    checks.count("address_book", "customers", customers)
    checks.count("address_book", "crashes", crashes, least=0)
    world = World(seed=seed)
    accounts = world.service("accounts", workers=4, work=Exp(mean=0.005))
    profile = world.service("profile", workers=4, work=Exp(mean=0.020))
    bus = world.broker("bus", redelivery_delay=redelivery_delay)
    bus.topic("address-changed", partitions=partitions)

    @accounts.endpoint("change-address")
    def change_address(ctx, request):
        customer = request.id % customers
        yield ctx.work()
        version = ctx.db.write(customer, f"address #{request.id}")
        ctx.publish(bus, "address-changed", (customer, version), key=customer)

    profile.consumer(bus, "address-changed", view_of="accounts")(show_address)
    world.load(Poisson(rate=rate), target=("accounts", "change-address"), duration=duration)
    if crashes:
        world.faults.random("crash", ["profile"], count=crashes, duration=(0.2, 1.0),
                            within=(0, duration))
    return world
