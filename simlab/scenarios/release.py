"""From commit to production: a delivery pipeline deploying a live service (lesson 07).

A small shop serves customers all along: the gateway calls ``orders``, which calls
``payments`` (a chain of synchronous calls, as in lesson 01). A team commits changes to
``orders``; each goes through the pipeline's stages on shared CI runners (build, unit
tests, then per batch integration and staging tests) and is deployed to the live service
with a deployment strategy. A change may carry a defect that the tests miss; once live,
it makes orders fail (or slow) for real customers. A burn-rate alert watches orders, and
an incident it opens is remediated by a rollback, or by a hotfix that goes through the
pipeline's stages like any change (``hotfix_through_pipeline``).

**Time.** One simulated second stands for **one minute** (the delivery side's clock:
``sl.delivery.DAY`` is 1440), so three days of commits simulate in about a second. The
live traffic is a *sample*: ``traffic`` requests per simulated second stand for the
shop's traffic of one minute (a real shop serves many more), enough for the alert and
the canary to see what a version does. Lead times, deployment durations and recovery
times are therefore in minutes; the services' own latencies (milliseconds of work on a
minute's clock) are not the point of this lesson.

Example:
    >>> world = release(batching="nightly", strategy="big-bang", seed=2)
    >>> result = world.run()
    >>> result.dora()          # lead time, deployment frequency, change fail rate...
"""

import math

from .. import checks
from ..delivery import DAY, HOUR, BurnRateAlert, Defect, MergeQueue, Schedule
from ..delivery.strategies import BlueGreen, Canary, Recreate, Rolling, Strategy
from ..distributions import Exp
from ..load import Poisson
from ..world import World
from .shop import Order

SERVICE = "orders"     # the service the pipeline deploys

#: The strategies by name, in minutes (see ``simlab.delivery.strategies``).
STRATEGIES = {
    "big-bang": Recreate(downtime=0.0),                     # every customer at once
    "rolling": Rolling(instances=4, max_surge=1, ready_after=2.0),
    "blue-green": BlueGreen(ready_after=2.0, scale_down_after=30.0),
    "canary": Canary(steps=(0.1, 0.25, 0.5), interval=5.0, failure_limit=2, min_requests=10,
                     max_error_rate=0.05),
}

#: Batching by name: every change on its own, release trains, a merge queue.
BATCHING = {
    "continuous": "continuous",
    "hourly": Schedule(every=HOUR),
    "nightly": Schedule(every=DAY),
    "merge-queue": MergeQueue(group=1),
}

#: The alert on orders: 99 % of requests must succeed; it fires when the error budget
#: burns 10 times too fast over the last 10 minutes.
ALERT = BurnRateAlert(slo=0.99, window=10.0, burn_rate=10.0, every=1.0, min_requests=10)

BASE_ERROR_RATE = 0.002   # orders fails this share of requests even when all is well


def strategy_of(strategy):
    """``strategy`` as a strategy object: one of ``STRATEGIES`` by name, or an
    ``sl.Recreate / Rolling / BlueGreen / Canary`` as it is."""
    if isinstance(strategy, Strategy):
        return strategy
    if isinstance(strategy, str) and strategy in STRATEGIES:
        return STRATEGIES[strategy]
    return checks.refuse("release", "strategy", f"one of {list(STRATEGIES)} or an "
                         "sl.Recreate / sl.Rolling / sl.BlueGreen / sl.Canary", strategy)


def batching_of(batching):
    """``batching`` as the pipeline takes it: one of ``BATCHING`` by name, or an
    ``sl.Schedule`` / ``sl.delivery.MergeQueue`` as it is."""
    if isinstance(batching, (Schedule, MergeQueue)):
        return batching
    if isinstance(batching, str) and batching in BATCHING:
        return BATCHING[batching]
    return checks.refuse("release", "batching", f"one of {list(BATCHING)}, "
                         "sl.Schedule(every=...) or sl.delivery.MergeQueue(group=...)", batching)


def release(batching="continuous", runners=2, strategy="canary", defect_rate=0.1,
            commit_rate=0.02, flaky=0.0, reruns=0, duration=3 * DAY, seed=1, traffic=4.0,
            remediation="rollback", alert=ALERT, respond_after=5.0):
    """A live shop, and a pipeline that delivers changes to its orders service.

    Args:
        batching: ``"continuous"`` (each change on its own), ``"hourly"``, ``"nightly"``,
            ``"merge-queue"``, or an ``sl.Schedule(every=minutes)``.
        runners: CI runners the stages share.
        strategy: ``"big-bang"``, ``"rolling"``, ``"blue-green"``, ``"canary"``, or a
            strategy object such as ``sl.Canary(steps=(0.1, 0.5), interval=10)``.
        defect_rate: the probability that a change carries a defect.
        commit_rate: changes committed per minute (0.02: one every 50 minutes, about 29
            a day).
        flaky: the probability that a run of a test stage fails for no reason;
            reruns: automatic re-runs of a failed stage run.
        duration: minutes during which the team commits (default: three days).
        seed: the world's seed.
        traffic: customer requests per simulated second (a sample of a minute's traffic).
        remediation: ``"rollback"`` (back to the version before) or ``"hotfix"`` (fix
            forward: a fix through the pipeline's stages, then deployed; see
            ``hotfix_through_pipeline``), what an incident gets; ``respond_after``:
            minutes from the alert to the remediation.
        alert: the ``sl.BurnRateAlert`` on orders (``None``: nothing watches production).

    Returns:
        A ``World``; call ``.run()`` on it.
    """
    # The parameters passed on under another name are checked under their own.
    checks.positive("release", "commit_rate", commit_rate, "of changes per minute")
    checks.positive("release", "traffic", traffic, "of requests per simulated second", least=0)
    checks.seconds("release", "duration", duration, positive=True, unit="minutes")
    checks.seconds("release", "respond_after", respond_after, unit="minutes")
    checks.one_of("release", "remediation", remediation, ("rollback", "hotfix"))
    batching, strategy = batching_of(batching), strategy_of(strategy)
    world = live_shop(seed)
    world.pipeline(SERVICE, commits=Poisson(rate=commit_rate), defect_rate=defect_rate,
                   batching=batching, runners=runners, flaky=flaky, reruns=reruns,
                   strategy=strategy, duration=duration)
    # Customers keep coming while the last changes of the run are delivered.
    tail = (batching.every if isinstance(batching, Schedule) else 0) + 2 * HOUR
    if traffic:
        world.load(Poisson(rate=traffic), target=("gateway", "checkout"),
                   duration=duration + tail, payload=Order, name="customers")
    if alert is not None:
        world.alert(SERVICE, alert)
    world.remediation(remediation, after=respond_after,
                      hotfix=hotfix_through_pipeline if remediation == "hotfix" else None)
    return world


def hotfix_through_pipeline(deployer, service):
    """Fix forward: the hook ``world.remediation(hotfix=...)`` calls when an incident on
    ``service`` is to be remediated by a hotfix. Returns the SimPy event of its outcome.

    A hotfix is an unplanned change: the service's pipeline takes it through every stage
    on its CI runners (waiting in line with everyone else's changes: a busy pipeline is a
    slow recovery) and deploys it with the pipeline's strategy as version "<bad>-hotfix",
    without the defect (``PipelineRun.hotfix``). It is a row of ``result.changes``
    (``unplanned``), its stage runs are rows of ``result.pipeline_runs``, and its
    deployment is marked unplanned in ``result.deployments``.
    """
    pipeline = deployer.pipelines[service]          # the PipelineRun of the service
    bad, _ = deployer.incident_versions(service)   # the version the incident is about
    return pipeline.hotfix(bad.version)


def live_shop(seed):
    """The live system: gateway → orders → payments, synchronous calls; orders fails
    ``BASE_ERROR_RATE`` of its requests even when all is well."""
    world = World(seed=seed, latency=0.0005, time_unit="min")
    gateway = world.service("gateway", workers=16, work=Exp(mean=0.002))
    orders = world.service(SERVICE, workers=8, work=Exp(mean=0.010),
                           error_rate=BASE_ERROR_RATE)
    payments = world.service("payments", workers=4, work=Exp(mean=0.030))

    @gateway.endpoint("checkout")
    def checkout(ctx, order):
        yield ctx.work()
        return (yield ctx.call(SERVICE, "place", order))

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        return (yield ctx.call("payments", "charge", order))

    @payments.endpoint("charge")
    def charge(ctx, order):
        yield ctx.work()
        return "charged"

    return world


# -- one version, deployed with each strategy (lesson 07, section 4) -------------------------

BAD = Defect("errors", rate=0.2)   # the bad version: one request in five fails
DEPLOY_AT = 30.0                   # minutes: when the new version is deployed


def one_release(strategy="canary", defect=BAD, traffic=20.0, seed=1, duration=2 * HOUR,
                alert=ALERT, respond_after=0.0):
    """The live shop for ``duration`` minutes; at ``DEPLOY_AT`` version "2.0" of orders
    is deployed with ``strategy``; it carries ``defect`` (``None``: a good version).

    The same customers on the same seed whatever the strategy, so strategies can be
    compared on one bad version: ``blast_radius(result)`` says whom it reached.
    """
    checks.positive("one_release", "traffic", traffic, "of requests per simulated second")
    checks.seconds("one_release", "duration", duration, positive=True, unit="minutes")
    checks.seconds("one_release", "respond_after", respond_after, unit="minutes")
    world = live_shop(seed)
    world.load(Poisson(rate=traffic), target=("gateway", "checkout"), duration=duration,
               payload=Order, name="customers")
    world.deploy(SERVICE, "2.0", at=DEPLOY_AT, strategy=strategy_of(strategy), defect=defect)
    if alert is not None:
        world.alert(SERVICE, alert)
    world.remediation("rollback", after=respond_after)
    return world


def blast_radius(result, version="2.0", service=SERVICE):
    """Whom ``version`` of ``service`` reached in ``result``: a dict with

    * ``served``: requests it served (its server spans), ``failed``: those that failed
      (one still in flight when the run stopped has not failed);
    * ``share``: ``served`` over all requests the service received from the version's
      deployment until it was gone (its rollback done), or to the end of the run if it
      stayed: the share of customers who met it while it was live;
    * ``detected``: minutes from its deployment to the incident about it (an alert or a
      failed canary; NaN if none); ``settled``: minutes from its deployment until it was
      promoted, or gone.
    """
    spans = result.spans
    spans = spans[(spans.service == service) & (spans.kind == "server")]
    mine = spans[spans.version == version]
    deployments = result.deployments
    deployments = deployments[deployments.service == service]
    first = deployments[deployments.version == version].start.min()
    touching = deployments[(deployments.version == version) | (deployments.previous == version)]
    settled = touching.end.max()
    gone = touching.outcome.eq("rolled_back").any() or touching.strategy.eq("rollback").any()
    until = settled if gone else result.end_time
    window = spans[(spans.start >= first) & (spans.start < until)]
    incidents = result.incidents
    found = incidents[(incidents.service == service) & (incidents.version == version)]
    failed = mine.status.isin(("error", "timeout", "rejected"))
    return {"served": len(mine), "failed": int(failed.sum()),
            "share": len(mine) / len(window) if len(window) else math.nan,
            "detected": found.opened.min() - first if len(found) else math.nan,
            "settled": settled - first}


def runner_use(result):
    """The share of the CI runners' time spent running stages, over the whole run: the
    utilisation of the pipeline's queue (1.0: every runner busy all the time)."""
    runs = result.pipeline_runs
    runs = runs[runs.stage != "production"]
    runners = sum(pipeline.runners for pipeline in result.world.pipelines)
    return float((runs.end - runs.start).sum() / (result.end_time * runners)) \
        if runners and result.end_time else math.nan
