"""The World: the one mutable builder of a model, and the door to running it.

Example:
    >>> import simlab as sl
    >>> world = sl.World(seed=7)
    >>> api = world.service("api", workers=2, work=sl.Exp(mean=0.01))
    >>> @api.endpoint("get")
    ... def get(ctx, request):
    ...     yield ctx.work()
    >>> world.load(sl.Poisson(rate=100), target=("api", "get"), duration=10)
    >>> result = world.run()
    >>> result.requests.outcome.unique().tolist()
    ['ok']

All times are **simulated seconds**.
"""

import warnings

from . import checks
from .broker import Broker
from .delivery.alerts import BurnRateAlert
from .delivery.deploy import Planned, as_defects, check_strategy
from .delivery.strategies import Recreate
from .distributions import as_distribution
from .errors import ModelError, ModelTypeError, SimlabWarning
from .delivery.pipeline import Pipeline
from .faults import Faults
from .load import Burst, Load, Poisson, Users
from .results import Result
from .runtime import Run
from .services import Service

#: What one unit of simulated time may stand for (``World(time_unit=...)``).
TIME_UNITS = ("s", "min")


class World:
    """Describes a model: services, brokers, load and faults. ``run()`` simulates it.

    Args:
        seed: a whole number; drives every random stream of a run (``run(seed=...)``
            overrides it).
        latency: one-way network delay of every synchronous call hop (a distribution
            or seconds; default 0, no network delay).
        max_events: a run stops with ``RunLimitError`` after this many events ...
        max_records: ... or once it keeps this many records: rows of its tables, a
            request still in flight counting as five. A record takes about 250 bytes,
            so the default 1.5 million keeps a run under about 0.4 GB, and under about
            1 GB once every table of its Result is built (a Binder pod has about 2 GB).
        max_seconds: ... or after this many seconds of wall-clock time.
        sample_every: seconds between two samples of queue lengths and backlogs
            (default: a 400th of the time until the last load ends, or the last
            commit of a pipeline).
        time_unit: what one unit of simulated time stands for, as figures' time axes
            and messages name it: ``"s"`` (default) or ``"min"`` (the delivery side's
            clock, as in ``sl.scenarios.release``). The simulation is the same; only the
            labels change.
    """

    def __init__(self, seed=0, latency=0.0, max_events=20_000_000, max_seconds=60.0,
                 sample_every=None, max_records=1_500_000, time_unit="s"):
        self.seed = checks.seed("World", seed)
        self.time_unit = checks.one_of("World", "time_unit", time_unit, TIME_UNITS)
        latency = as_distribution(latency, "World", "latency")
        self.latency = None if latency.mean == 0 else latency
        self.max_events = max_events
        self.max_seconds = max_seconds
        self.max_records = max_records
        self._check_limits()
        self._sample_every = checks.seconds("World", "sample_every", sample_every,
                                            positive=True, none="a 400th of the load's time")
        self.services = {}
        self.brokers = {}
        self.loads = []
        self.pipelines = []  # simlab.delivery: one CI/CD pipeline per service at most
        self.faults = Faults(self)
        self.extensions = []  # functions handles -> Component (see add_component)
        self.planned_deployments = []  # see deploy
        self.alerts = []               # (service, BurnRateAlert), see alert
        self.remediation_policy = ("rollback", 0.0, None)  # see remediation

    def __repr__(self):
        return (f"World(seed={self.seed}, services={list(self.services)}, "
                f"brokers={list(self.brokers)}, loads={len(self.loads)})")

    # -- building

    def service(self, name, workers=1, work=0.0, queue=None, error_rate=0.0, rate_limit=None,
                relay_delay=0.05, version="1.0"):
        """Add a service; see ``simlab.services.Service`` for the arguments."""
        if checks.name("service", name) in self.services:
            raise ModelError(f"there is already a service named {name!r}; names must be unique")
        service = self.services[name] = Service(self, name, workers, work, queue, error_rate,
                                                rate_limit, relay_delay, version)
        return service

    def broker(self, name, topics=(), max_attempts=5, redelivery_delay=1.0,
               delivery="at-least-once"):
        """Add a message broker; see ``simlab.broker.Broker`` for the arguments."""
        if checks.name("broker", name) in self.brokers:
            raise ModelError(f"there is already a broker named {name!r}; names must be unique")
        broker = self.brokers[name] = Broker(self, name, topics, max_attempts, redelivery_delay,
                                             delivery)
        return broker

    def add_component(self, make):
        """Add a part of your own to every run: ``make(handles)`` returns a
        ``simlab.components.Component`` (or ``Periodic``), which the run starts after
        the others (``start(handles)``) and waits for until it is idle. Nothing else
        needs to change.

        ``handles`` (``simlab.components.Handles``) is what the part may use of the run:
        the clock (``env``), the random streams, the recorder, the live services, the
        brokers (``messaging``), the network... never the run itself."""
        if not callable(make):
            checks.refuse("World.add_component", "make", "a function of the run's handles "
                          "that returns a simlab.components.Component", make)
        self.extensions.append(make)

    def pipeline(self, service, commits, defect_rate=0.1, defects=None, batching="continuous",
                 runners=2, stages=None, flaky=0.0, reruns=0, strategy=None, duration=None,
                 start=0.0, fix_time=None):
        """Add a CI/CD pipeline that delivers changes to ``service`` (read the clock as
        minutes here: ``sl.delivery.DAY`` is 1440). See ``simlab.delivery``.

        Args:
            commits: ``sl.Poisson(rate=...)``: changes committed per minute.
            defect_rate: the probability that a change carries a defect.
            defects: the mix of defect kinds, e.g. ``{"errors": 0.5, "slow": 0.3,
                "broken": 0.2}`` (the default).
            batching: ``"continuous"``, ``"merge-queue"``, ``sl.delivery.MergeQueue(group=3)``
                or ``sl.Schedule(every=sl.delivery.DAY)``.
            runners: CI runners shared by the stages.
            stages: a list of ``sl.delivery.Stage`` ending with ``sl.delivery.Production()``
                (default: ``sl.delivery.default_stages()``).
            flaky: the probability that a run of a stage fails for no reason.
            reruns: automatic re-runs of a failed stage run.
            strategy: how production deploys (used when the run has a deployer).
            duration: minutes during which the teams commit; start: when they begin.
            fix_time: how long the author of a defective change that was rolled back
                takes to commit its fix (a distribution or minutes; default
                ``sl.LogNormal(median=60, p99=240)``).
        """
        if any(p.service == service for p in self.pipelines):
            raise ModelError(f"service {service!r} already has a pipeline; a service has one")
        pipeline = Pipeline(self, service, commits, defect_rate, defects, batching, runners,
                            stages, flaky, reruns, strategy, duration, start, fix_time)
        self.pipelines.append(pipeline)
        self.add_component(pipeline.component)
        return pipeline

    def load(self, arrivals, target, duration=None, start=0.0, payload=None, timeout=None,
             name=None):
        """Send requests to ``target`` = ``(service, endpoint)`` for ``duration`` seconds.

        Args:
            arrivals: ``sl.Poisson(rate=...)``, ``sl.Users(n=..., think=...)`` or
                ``sl.Burst(size=..., over=...)`` (a burst needs no duration).
            payload: a function of the request number returning the payload
                (default: ``sl.Payload(id=number)``).
            timeout: seconds a client waits before giving up (outcome ``"timeout"``).
        """
        if not isinstance(arrivals, (Poisson, Users, Burst)):
            raise ModelError(f"load: arrivals must be sl.Poisson(rate=...), sl.Users(n=...) or "
                             f"sl.Burst(size=...), got {arrivals!r}")
        if isinstance(arrivals, Burst):
            if duration not in (None, arrivals.over):
                raise ModelError("load: a Burst lasts its own `over` seconds; leave duration out")
            duration = arrivals.over
        elif duration is None:
            raise ModelTypeError("load: duration is missing (got None): how many seconds should "
                                "it send for?")
        if not (isinstance(target, tuple) and len(target) == 2):
            raise ModelError(f"load: target must be a (service, endpoint) pair such as "
                             f"('gateway', 'checkout'), got {target!r}")
        checks.seconds("load", "duration", duration, positive=True)
        checks.seconds("load", "start", start)
        checks.seconds("load", "timeout", timeout, positive=True, none="no timeout")
        if payload is not None and not callable(payload):
            raise ModelError("load: payload must be a function of the request number, "
                             f"such as lambda n: Order(id=n); got {payload!r}")
        if name is not None:
            checks.name("load", name)
        name = name or f"{target[0]}.{target[1]}" + \
            (" burst" if isinstance(arrivals, Burst) else "")
        if any(load.name == name for load in self.loads):
            name = f"{name}#{len(self.loads) + 1}"
        self.loads.append(Load(name, arrivals, target[0], target[1], start, duration, payload,
                               timeout))

    # -- deployments and incidents (simlab.delivery)

    def deploy(self, service, version, at, strategy=None, defect=None, changes=1):
        """Deploy ``version`` of ``service`` at time ``at`` with ``strategy`` (default: the
        big-bang ``sl.Recreate(downtime=0)``); ``defect``: None, an ``sl.Defect`` or a
        list of them. Its outcome is in ``result.deployments``.

        Example:
            >>> world.deploy("orders", "2.0", at=30, strategy=sl.Canary(step=0.1),
            ...              defect=sl.Defect("errors", rate=0.2))
        """
        self.check_service(service, "deploy")
        checks.name("version", version)
        checks.seconds("deploy", "at", at)
        strategy = Recreate(downtime=0.0) if strategy is None else strategy
        check_strategy(strategy, self.services[service])
        changes = checks.count("deploy", "changes", changes, least=0)
        self.planned_deployments.append(Planned(service, version, at, strategy,
                                                as_defects(defect), changes))

    def alert(self, service, alert):
        """Watch ``service`` with ``alert`` (an ``sl.BurnRateAlert``); when it fires, an
        incident is opened and remediated (see ``remediation``)."""
        self.check_service(service, "alert")
        if not isinstance(alert, BurnRateAlert):
            checks.refuse("alert", "alert", "an sl.BurnRateAlert(slo=..., window=..., "
                          "burn_rate=...)", alert)
        self.alerts.append((service, alert))

    def remediation(self, how="rollback", after=0.0, hotfix=None):
        """How an incident an alert opened is remediated: "rollback" (back to the version
        before) or "hotfix" (a new version, by default the old content under a new name:
        see ``simlab.delivery.deploy.default_hotfix``, and ``hotfix=`` to replace it),
        ``after`` seconds from detection (the time people take to respond)."""
        checks.one_of("remediation", "how", how, ("rollback", "hotfix"))
        checks.seconds("remediation", "after", after)
        if hotfix is not None and not callable(hotfix):
            checks.refuse("remediation", "hotfix", "a function (deployer, service) -> event, "
                          "or None", hotfix)
        self.remediation_policy = (how, after, hotfix)

    # -- checks shared by the parts

    def check_service(self, name, who):
        if not isinstance(name, str) or name not in self.services:
            raise ModelError(f"{who}: unknown service {name!r}; known services: "
                             f"{sorted(self.services)}")

    def unknown_topic_message(self, broker, topic):
        if broker not in self.brokers:
            return f"publish: unknown broker {broker!r}; known brokers: {sorted(self.brokers)}"
        return (f"publish: broker {broker!r} has no topic {topic!r}; known topics: "
                f"{sorted(self.brokers[broker].topics)}. Declare it with {broker}.topic({topic!r})")

    def validate(self):
        """Check the whole model before a run; raises ``ModelError`` naming the culprit."""
        if not self.loads and not self.pipelines:
            raise ModelError("the world has no load; add one with world.load(sl.Poisson(rate=...),"
                             " target=(service, endpoint), duration=...)")
        for load in self.loads:
            self.check_service(load.service, f"load {load.name!r}")
            endpoints = self.services[load.service].endpoints
            if load.endpoint not in endpoints:
                raise ModelError(f"load {load.name!r}: service {load.service!r} has no endpoint "
                                 f"{load.endpoint!r}; it has: {sorted(endpoints)}")
        for broker in self.brokers.values():
            for topic in broker.topics.values():
                for group in topic.groups.values():
                    if group.service.world is not self:
                        raise ModelError(f"consumer group {group.group!r} belongs to another "
                                         "world's service")
        for service in self.services.values():
            if service.view_of is not None:
                self.check_service(service.view_of, f"view_of of {service.name!r}")
        self._check_limits()

    def _check_limits(self):
        # Checked when the world is made, and again before each run: they are plain
        # attributes, which a lesson may change in between.
        checks.count("World", "max_events", self.max_events)
        checks.count("World", "max_records", self.max_records)
        checks.seconds("World", "max_seconds", self.max_seconds, positive=True)

    @property
    def load_end(self):
        return max((load.end for load in self.loads), default=0.0)

    @property
    def sample_every(self):
        busy = max([self.load_end, 1.0] + [pipeline.end for pipeline in self.pipelines])
        return self._sample_every or busy / 400

    # -- running

    def run(self, seed=None, until=None):
        """Simulate the model once and return a fresh ``Result``.

        Args:
            seed: a whole number overriding the world's seed for this run (``None``,
                the default: the world's seed).
            until: stop at this simulated time; by default the run goes on until all
                load has been sent, everything has drained (nothing left to do) and
                every scheduled fault has ended.
                Requests not finished at the end have outcome ``"in_flight"``.
        """
        self.validate()
        until = checks.seconds("run", "until", until, positive=True,
                               none="running until everything has drained")
        seed = self.seed if seed is None else checks.seed("run", seed)
        run = Run(self, seed)
        run.start(until)
        wall = run.execute(until, self.max_events, self.max_seconds, self.max_records)
        for message in run.warnings:
            warnings.warn(message, SimlabWarning, stacklevel=2)
        return Result(self, run, seed, wall)
