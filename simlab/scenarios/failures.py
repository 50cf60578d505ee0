"""A cascading failure: a slow dependency, and the policies that contain it (lesson 04).

The gateway serves two kinds of request through ``orders``: ``checkout`` (orders calls
payments) and ``status`` (orders answers from its own data). From ``slow_at`` for
``slow_for`` seconds payments is ``slow_factor`` times slower. Without protection, every
orders worker ends up waiting on payments, so status requests — which never touch
payments — fail too, and the gateway's workers fill up behind them: the failure spreads.
"""

from .. import checks
from ..calls import NO_FALLBACK
from ..distributions import Exp
from ..load import Poisson
from ..resilience import Retry
from ..world import World
from .shop import Order


def cascade(rate=40.0, status_rate=40.0, duration=60.0, seed=1, slow_at=20.0, slow_for=15.0,
            slow_factor=20.0, timeout=None, retry=None, breaker=None, bulkhead=None,
            fallback=NO_FALLBACK, client_timeout=2.0):
    """gateway → orders → payments, with policies on the orders → payments call.

    Args:
        rate: checkouts per second; status_rate: status lookups per second.
        slow_at, slow_for, slow_factor: the payments slowdown.
        timeout, retry, breaker, bulkhead, fallback: the policies of orders' call to
            payments (see ``ctx.call``).
        client_timeout: seconds a customer waits for the gateway before giving up.

    Returns:
        A ``World``; call ``.run()`` on it.
    """
    # The parameters passed on under another name are checked under their own.
    checks.positive("cascade", "status_rate", status_rate, "of requests per second")
    checks.seconds("cascade", "slow_at", slow_at)
    checks.seconds("cascade", "slow_for", slow_for, positive=True)
    checks.positive("cascade", "slow_factor", slow_factor)
    checks.seconds("cascade", "client_timeout", client_timeout, positive=True,
                   none="no timeout")
    world = World(seed=seed, latency=0.0005)
    gateway = world.service("gateway", workers=32, work=Exp(mean=0.001))
    orders = world.service("orders", workers=8, work=Exp(mean=0.005))
    payments = world.service("payments", workers=4, work=Exp(mean=0.030))

    @gateway.endpoint("checkout")
    def checkout(ctx, order):
        yield ctx.work()
        return (yield ctx.call("orders", "place", order))

    @gateway.endpoint("status")
    def status(ctx, order):
        yield ctx.work()
        return (yield ctx.call("orders", "status", order))

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        return (yield ctx.call("payments", "charge", order, timeout=timeout, retry=retry,
                               breaker=breaker, bulkhead=bulkhead, fallback=fallback))

    @orders.endpoint("status")
    def order_status(ctx, order):
        yield ctx.work()
        return "shipped"

    @payments.endpoint("charge")
    def charge(ctx, order):
        yield ctx.work()
        return "charged"

    world.load(Poisson(rate=rate), target=("gateway", "checkout"), duration=duration,
               payload=Order, timeout=client_timeout, name="checkout")
    world.load(Poisson(rate=status_rate), target=("gateway", "status"), duration=duration,
               payload=Order, timeout=client_timeout, name="status")
    world.faults.slowdown("payments", at=slow_at, duration=slow_for, factor=slow_factor)
    return world


def flaky_world(p, attempts, rate=100.0, duration=20.0, seed=1):
    """A shop calls ``flaky``, which fails each request with probability ``p``; the shop
    retries at once, up to ``attempts`` attempts per call. Both have as many workers as
    needed, so only the retries matter: ``sl.metrics.attempts_per_call(result, "flaky")``
    should be (1 - p**attempts) / (1 - p)."""
    checks.probability("flaky_world", "p", p)
    checks.count("flaky_world", "attempts", attempts)
    world = World(seed=seed)
    shop = world.service("shop", workers=None)
    flaky = world.service("flaky", workers=None, work=Exp(mean=0.010), error_rate=p)

    @shop.endpoint("buy")
    def buy(ctx, order):
        return (yield ctx.call("flaky", "charge", order, retry=Retry(attempts=attempts)))

    @flaky.endpoint("charge")
    def charge(ctx, order):
        yield ctx.work()

    world.load(Poisson(rate=rate), target=("shop", "buy"), duration=duration)
    return world
