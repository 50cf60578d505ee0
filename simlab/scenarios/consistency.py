"""Read-your-writes: a client writes through one service and reads through a read model."""

from .. import checks
from ..distributions import Exp
from ..errors import ModelError
from ..load import Poisson
from ..world import World
from .shop import Order

#: The remedies ``read_your_writes`` knows, and what each does.
REMEDIES = {
    None: "read the read model right after writing (the anomaly)",
    "read-source": "read from the source service instead of the read model",
    "wait-for-version": "carry the written version; the read model waits until it has it",
    "fallback": "carry the written version; if the read model is behind, ask the source",
}


def read_your_writes(remedy=None, rate=50.0, duration=30.0, seed=1, projection_work=0.010,
                     consumers=1, partitions=None, latency=0.0005):
    """A client saves an order through ``orders`` and at once reads it back through
    ``order-view``, a read model fed by events. Without a remedy the read often misses
    the write (a stale read: ``result.reads.stale``).

    Args:
        remedy: one of ``REMEDIES``: None, "read-source", "wait-for-version", "fallback".
        projection_work: mean seconds the read model takes to apply one event.
        consumers: consumers of the read model's group.
        partitions: partitions of the ``order-events`` topic (``None``: a shared queue).

    Returns:
        A ``World``; call ``.run()`` on it.
    """
    if remedy not in REMEDIES:
        raise ModelError(f"read_your_writes: unknown remedy {remedy!r}; choose one of "
                         f"{list(REMEDIES)}")
    checks.seconds("read_your_writes", "projection_work", projection_work, positive=True)
    world = World(seed=seed, latency=latency)
    client = world.service("client", workers=None)
    orders = world.service("orders", workers=8, work=Exp(mean=0.005))
    # Unlimited workers: a query waiting for a version must not take the worker the
    # projection needs to apply it (that would be a deadlock).
    view = world.service("order-view", workers=None, work=Exp(mean=projection_work))
    bus = world.broker("bus")
    bus.topic("order-events", partitions=partitions)

    @orders.endpoint("save")
    def save(ctx, order):
        yield ctx.work()
        version = ctx.db.write(order.id, "saved")
        ctx.publish(bus, "order-events", order, key=order.id)
        return version

    @orders.endpoint("get")
    def get_from_source(ctx, key):
        yield ctx.work()
        return ctx.db.read(key)

    @view.consumer(bus, "order-events", view_of="orders", consumers=consumers)
    def project(ctx, order):
        yield ctx.work()
        ctx.db.write(order.id, "saved")

    @view.endpoint("get")
    def get_from_view(ctx, request):
        key, version = request
        yield ctx.work(0.001)
        if remedy == "wait-for-version":
            yield ctx.db.wait_for(key, version)
        elif remedy == "fallback" and ctx.db.version(key) < version:
            return (yield ctx.call("orders", "get", key))
        return ctx.db.read(key)

    @client.endpoint("save-then-read")
    def save_then_read(ctx, order):
        version = yield ctx.call("orders", "save", order)
        if remedy == "read-source":
            return (yield ctx.call("orders", "get", order.id))
        return (yield ctx.call("order-view", "get", (order.id, version)))

    world.load(Poisson(rate=rate), target=("client", "save-then-read"), duration=duration,
               payload=Order, name="clients")
    return world
