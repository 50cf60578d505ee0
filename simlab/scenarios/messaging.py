"""Async error handling (lesson 05): delivery semantics, dual write against outbox, a saga."""

from .. import checks
from ..distributions import Exp
from ..errors import ModelError, ServiceError
from ..load import Poisson
from ..saga import Saga
from ..world import World
from .shop import Order

SEMANTICS = ("at-least-once", "at-most-once", "effectively-once")


def billing_world(handler=None, semantics="at-least-once", rate=40.0, duration=60.0, seed=1,
                  crashes=0, poison_every=0, fixed_at=None, replay_at=None, max_attempts=5,
                  redelivery_delay=0.5, republished=0.0, billing_work=0.020):
    """Orders publishes ``order-placed``; billing applies each (writes an invoice: the
    *effect*), then does more work before it acks (lesson 05).

    Args:
        handler: billing's consumer (default: the one described here; pass your own to
            try an idempotent one).
        semantics: "at-least-once" (a crash after the effect and before the ack repeats
            it: duplicates), "at-most-once" (acked on delivery: a crash loses it) or
            "effectively-once" (at-least-once with an idempotent consumer).
        crashes: random crashes of billing, 0.2 to 1 s each (an overlapping one is skipped).
        poison_every: if > 0, every n-th order is a poison message billing cannot parse:
            it ends in the dead-letter topic after ``max_attempts`` deliveries ...
        fixed_at: ... until a billing that parses it is deployed at this time;
        replay_at: when an operator replays the dead letters (``bus.replay``).
        redelivery_delay: seconds, or an ``sl.Exponential`` backoff, between deliveries.
        republished: share of orders the producer publishes twice (a retried publish).
        billing_work: mean seconds of each of billing's two steps.

    Returns:
        A ``World``; ``sl.metrics.message_fates(result)`` says which messages were lost,
        duplicated or dead-lettered.
    """
    if semantics not in SEMANTICS:
        raise ModelError(f"billing_world: semantics must be one of {SEMANTICS}, got "
                         f"{semantics!r}")
    checks.count("billing_world", "crashes", crashes, least=0)
    checks.count("billing_world", "poison_every", poison_every, least=0)
    checks.probability("billing_world", "republished", republished)
    checks.seconds("billing_world", "billing_work", billing_work, positive=True)
    checks.seconds("billing_world", "fixed_at", fixed_at, none="never fixed")
    checks.seconds("billing_world", "replay_at", replay_at, none="no replay")
    world = World(seed=seed)
    orders = world.service("orders", workers=8, work=Exp(mean=0.005))
    billing = world.service("billing", workers=2, work=Exp(mean=billing_work))
    bus = world.broker("bus", max_attempts=max_attempts, redelivery_delay=redelivery_delay,
                       delivery="at-most-once" if semantics == "at-most-once" else
                       "at-least-once")
    bus.topic("order-placed")

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        ctx.publish(bus, "order-placed", order, key=order.id)
        # Draw only when asked: a draw would shift every later draw of orders.
        if republished and ctx.random() < republished:   # the producer timed out, sent again
            ctx.publish(bus, "order-placed", order, key=order.id)

    def invoice(ctx, order):
        poison = poison_every and order.id % poison_every == 0
        if poison and (fixed_at is None or ctx.now < fixed_at):   # the bug, until fixed
            ctx.log(f"cannot parse order {order.id}", level="error")
            raise ServiceError(f"cannot parse order {order.id}")
        yield ctx.work()
        ctx.db.write(order.id, "invoiced")   # the effect
        yield ctx.work()                      # more work before the ack: a crash here repeats it

    billing.consumer(bus, "order-placed", idempotent=semantics == "effectively-once")(
        handler or invoice)
    world.load(Poisson(rate=rate), target=("orders", "place"), duration=duration, payload=Order)
    if replay_at is not None:
        bus.replay("order-placed", "billing", at=replay_at)   # put the dead letters back
    if crashes:
        world.faults.random("crash", ["billing"], count=crashes, duration=(0.2, 1.0),
                            within=(0.0, duration))
    return world


def delivery(semantics="at-least-once", rate=40.0, duration=60.0, seed=1, crashes=6,
             poison_every=0, max_attempts=5):
    """``billing_world`` with billing crashing ``crashes`` times: what each delivery
    semantics does to the effects (``result.delivery_report()`` counts them)."""
    return billing_world(semantics=semantics, rate=rate, duration=duration, seed=seed,
                         crashes=crashes, poison_every=poison_every, max_attempts=max_attempts)


def dual_write(design="dual-write", rate=40.0, duration=60.0, seed=1, crashes=6,
               render_time=0.1):
    """Orders writes the order, renders a reply (``render_time`` s), and publishes
    ``order-placed`` — either *after* rendering with a plain publish ("dual-write"), or
    through the outbox with the write ("outbox"). Orders crashes ``crashes`` times.

    Returns:
        A ``World``. Orders written but never published are lost events.
    """
    if design not in ("dual-write", "outbox"):
        raise ModelError(f"dual_write: design must be 'dual-write' or 'outbox', got {design!r}")
    checks.count("dual_write", "crashes", crashes, least=0)
    checks.seconds("dual_write", "render_time", render_time, positive=True)
    world = World(seed=seed)
    orders = world.service("orders", workers=16, work=Exp(mean=0.005))
    shipping = world.service("shipping", workers=2, work=Exp(mean=0.010))
    bus = world.broker("bus")
    bus.topic("order-placed")

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        ctx.db.write(order.id, "placed")
        if design == "outbox":
            ctx.outbox(bus, "order-placed", order, key=order.id)
        yield ctx.work(Exp(mean=render_time))   # a crash here separates the two writes
        if design == "dual-write":
            ctx.publish(bus, "order-placed", order, key=order.id)

    @shipping.consumer(bus, "order-placed", view_of="orders")
    def ship(ctx, order):
        yield ctx.work()
        ctx.db.write(order.id, "placed")

    world.load(Poisson(rate=rate), target=("orders", "place"), duration=duration, payload=Order)
    if crashes:
        world.faults.random("crash", ["orders"], count=crashes, duration=(0.2, 1.0),
                            within=(0.0, duration))
    return world


#: The orchestrated checkout: each step and the step that undoes it.
CHECKOUT = (("payments", "charge", "refund"), ("inventory", "reserve", "release"),
            ("shipping", "schedule", "cancel"))


def checkout_saga(rate=30.0, duration=60.0, seed=1, failure_rates=None, timeout=1.0):
    """Orders runs the checkout as an orchestrated saga; each step fails with its
    service's probability in ``failure_rates`` (default: inventory 0.1, shipping 0.05),
    and a failure undoes the steps before it.

    Returns:
        A ``World``; ``result.sagas`` has each saga's outcome and inconsistency window.
    """
    rates = {"payments": 0.0, "inventory": 0.1, "shipping": 0.05, **(failure_rates or {})}
    for service, probability in rates.items():
        if service not in ("payments", "inventory", "shipping"):
            raise ModelError(f"checkout_saga: failure_rates names unknown service {service!r}; "
                             "the saga's services are payments, inventory and shipping")
        checks.probability("checkout_saga", f"failure_rates[{service!r}]", probability)
    world = World(seed=seed, latency=0.0005)
    orders = world.service("orders", workers=None, work=Exp(mean=0.005))
    saga = Saga(CHECKOUT, timeout=timeout)
    for service, step, undo in CHECKOUT:
        _saga_participant(world, service, step, undo, rates[service])

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        outcome = yield ctx.saga(saga, order)
        ctx.log(f"checkout {outcome}", order=order.id)
        return outcome

    world.load(Poisson(rate=rate), target=("orders", "place"), duration=duration, payload=Order)
    return world


def _saga_participant(world, name, step, undo, failure_rate):
    service = world.service(name, workers=4, work=Exp(mean=0.020))

    @service.endpoint(step)
    def do(ctx, order):
        yield ctx.work()
        if ctx.random() < failure_rate:
            raise ServiceError(f"{name} cannot {step} order {order.id}")
        ctx.db.write(order.id, step)

    @service.endpoint(undo)
    def undo_step(ctx, order):
        yield ctx.work()
        ctx.db.write(order.id, undo)
