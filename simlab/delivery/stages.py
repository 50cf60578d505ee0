"""Stages of a delivery pipeline, and the ways of batching changes for production.

A **stage** takes time (a distribution) and catches defects: each time it runs it
catches a defect of kind k with probability ``catches[k]``. Defects are *intermittent*:
a test that caught one may miss it on the next run. A stage runs either **per change**
(build and unit tests, on every commit) or **per batch** (integration, staging,
performance and the deployment to production, on the changes shipped together).

**Batching** says which changes travel to production together:

* ``"continuous"``: every change that passes its change stages goes on alone;
* ``Schedule(every=DAY)``: at each tick, whatever passed since the last one goes as one
  batch (a nightly or weekly release train);
* ``"merge-queue"`` or ``MergeQueue(group=k)``: changes wait in a queue and go through
  the batch stages ``k`` at a time, one group after another (never two groups at once,
  so each group is tested on top of what is already deployed).

Time: the delivery side reads the world's clock as **minutes**: one simulated second
stands for one minute (``MINUTE``), so a day is ``DAY`` = 1440 seconds and a lesson can
simulate weeks of commits in a second of wall-clock time.
"""

from dataclasses import dataclass, field

from .. import checks
from ..distributions import Distribution, LogNormal, as_distribution
from ..errors import ModelError
from .changes import DEFECT_KINDS

MINUTE = 1.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY


@dataclass(frozen=True)
class Stage:
    """One stage: ``Stage("unit", sl.LogNormal(median=8, p99=20), catches={"errors": 0.5})``.

    Args:
        name: appears in ``result.pipeline_runs`` and ``result.changes.caught``.
        duration: how long one run takes (a distribution, or minutes).
        catches: per defect kind, the probability that one run catches it (default: none).
        per: ``"change"`` (runs on every change) or ``"batch"`` (on each batch).

    Every stage runs on a CI runner, except production (``Production()``), which holds
    the service's deploy lane instead: one deployment at a time.
    """

    name: str
    duration: object
    catches: tuple = ()
    per: str = "change"
    deploys: bool = field(default=False, repr=False)

    def __post_init__(self):
        owner = f"Stage {self.name!r}"
        checks.name("stage", self.name)
        object.__setattr__(self, "duration", as_duration(owner, "duration", self.duration))
        if not isinstance(self.catches, (dict, tuple)):
            checks.refuse(owner, "catches", "a dict such as {'errors': 0.5}", self.catches)
        catches = dict(self.catches)
        for kind, chance in catches.items():
            if kind not in DEFECT_KINDS:
                raise ModelError(f"{owner}: unknown defect kind {kind!r} in catches; the kinds "
                                 f"are {list(DEFECT_KINDS)}")
            checks.probability(owner, f"catches[{kind!r}]", chance)
        # Kept as pairs in a fixed order: a frozen value, and the same draws every run.
        object.__setattr__(self, "catches", tuple((k, catches[k]) for k in DEFECT_KINDS
                                                  if k in catches))
        checks.one_of(owner, "per", self.per, ("change", "batch"))

    def catch(self, kind):
        """The probability that one run of this stage catches a defect of ``kind``."""
        return dict(self.catches).get(kind, 0.0)


def as_duration(owner, what, value):
    """A stage's duration: a distribution, or a number of minutes (a ``Constant``). The
    delivery side's own check, so that a bad value is refused in minutes, its unit."""
    if not isinstance(value, Distribution):
        if not checks.is_number(value):
            checks.refuse(owner, what, "a distribution such as sl.LogNormal(median=6, p99=20) "
                          "or a number of minutes", value)
        checks.seconds(owner, what, value, unit="minutes")
    return as_distribution(value, owner, what)


def Production(duration=LogNormal(median=10, p99=30)):  # noqa: N802 (reads as a stage)
    """The last stage: deploy a batch to production (``duration``: how long it takes when
    the run has no deployment strategies to do it; see ``simlab.delivery.pipeline``)."""
    return Stage("production", duration, per="batch", deploys=True)


def default_stages(performance=False):
    """A typical pipeline, in minutes: build and unit tests on every change; integration
    tests, a deployment to staging with its tests, optionally a performance test, and
    the deployment to production on each batch."""
    stages = [
        Stage("build", LogNormal(median=4, p99=12), {"broken": 0.2}),
        Stage("unit", LogNormal(median=6, p99=20), {"errors": 0.5, "broken": 0.4,
                                                    "slow": 0.05}),
        Stage("integration", LogNormal(median=15, p99=45),
              {"errors": 0.4, "broken": 0.5, "slow": 0.1}, per="batch"),
        Stage("staging", LogNormal(median=12, p99=30),
              {"errors": 0.3, "broken": 0.3, "slow": 0.1}, per="batch"),
    ]
    if performance:
        stages.append(Stage("performance", LogNormal(median=30, p99=60), {"slow": 0.7},
                            per="batch"))
    return (*stages, Production())


def check_stages(owner, stages):
    """Stages in a workable order: per-change stages first, then per-batch stages, the
    last of which, and only it, deploys to production. Returns them as a tuple."""
    if isinstance(stages, (str, bytes)) or not hasattr(stages, "__iter__"):
        checks.refuse(owner, "stages", "a list of sl.delivery.Stage ending with "
                      "sl.delivery.Production()", stages)
    stages = tuple(stages)
    for stage in stages:
        if not isinstance(stage, Stage):
            checks.refuse(owner, "each of the stages", "an sl.delivery.Stage", stage)
    names = [stage.name for stage in stages]
    if len(set(names)) != len(names):
        raise ModelError(f"{owner}: two stages share a name in {names}; give each its own")
    if not stages or not stages[-1].deploys or sum(s.deploys for s in stages) != 1:
        raise ModelError(f"{owner}: the stages must end with one sl.delivery.Production() "
                         f"(and have no other), got {names}")
    pers = [stage.per for stage in stages]
    if "batch" in pers and "change" in pers[pers.index("batch"):]:
        raise ModelError(f"{owner}: a per-change stage comes after a per-batch stage in "
                         f"{names}; put the per-change stages (build, unit tests) first")
    return stages


@dataclass(frozen=True)
class Schedule:
    """Batch on a clock: every ``every`` minutes, whatever passed its change stages
    since the last tick goes to the batch stages as one batch (``every=DAY``: nightly)."""

    every: float

    def __post_init__(self):
        checks.seconds("Schedule", "every", self.every, positive=True, unit="minutes")


@dataclass(frozen=True)
class MergeQueue:
    """A merge queue: changes go through the batch stages ``group`` at a time, one
    group after another."""

    group: int = 1

    def __post_init__(self):
        checks.count("MergeQueue", "group", self.group)


def check_batching(owner, batching):
    """``"continuous"``, ``"merge-queue"`` (= ``MergeQueue(group=1)``), a ``Schedule``
    or a ``MergeQueue``."""
    if batching == "merge-queue":
        return MergeQueue()
    if batching == "continuous" or isinstance(batching, (Schedule, MergeQueue)):
        return batching
    hint = "; for a nightly train, write sl.Schedule(every=sl.delivery.DAY)" \
        if isinstance(batching, str) else ""
    return checks.refuse(owner, "batching", "'continuous', 'merge-queue', "
                         "sl.delivery.MergeQueue(group=...) or sl.Schedule(every=...)", batching,
                         hint)
