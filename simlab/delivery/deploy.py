"""The deployer: puts new versions of services into production during a run.

A run whose world deploys with a strategy has one (a component, and the ``deployer``
handle of every other: see ``simlab.components.Handles``). ``deployer.deploy(service,
version, strategy)`` starts a deployment and returns a SimPy event whose value is its
outcome, ``"succeeded"`` or ``"rolled_back"``; a CI/CD pipeline yields it from its
production stage. Without a pipeline, ``world.deploy(service, version, at=...)``
schedules one.

A deployment acts on the live service as a fault does: it changes which versions serve
(and with what weight, see ``Station.route``) and how many workers serve. A version
may carry defects (``Defect``); a defective version in production is what an incident
is about (``simlab.delivery.alerts``).

Deployments of one service run one after the other: a second one waits for the first
to end. Each is a row of ``result.deployments``; each change of traffic weight a row of
``result.traffic``; each canary analysis a row of ``result.canary_checks``.
"""

import bisect
import math
from dataclasses import dataclass

import numpy as np
from simpy.events import Timeout
from simpy.exceptions import Interrupt

from .. import checks
from ..components import Component
from .strategies import Recreate, Strategy
from .versions import Defect, LiveVersion, as_defects, make_version

class Deployment:
    """One deployment under way: the moves a strategy makes (see ``strategies``)."""

    def __init__(self, deployer, station, old, new, strategy):
        self.deployer = deployer
        self.env, self.recorder = deployer.env, deployer.recorder
        self.station = station
        self.old, self.new = old, new
        self.strategy = strategy
        self.weight = 0.0         # the new version's share of traffic
        self.old_running = True   # the old version still runs (blue-green keeps it a while)
        self.full = station.workers

    @property
    def now(self):
        return self.env.now

    def wait(self, seconds):
        return Timeout(self.env, seconds)

    def shift(self, weight):
        """From now on the new version gets ``weight`` of the requests, the old the rest."""
        self.weight = weight
        self.station.route([(self.old, 1.0 - weight), (self.new, weight)])
        self._traffic(1.0 - weight, weight)

    def stop(self):
        """No version runs (until the next shift)."""
        self.station.route([])
        self._traffic(0.0, 0.0)

    def capacity(self, share):
        """Serve with ``share`` of the service's workers."""
        self.station.resize(self.full if self.full == math.inf else round(self.full * share))

    def _traffic(self, old, new):
        recorder, now, name = self.recorder, self.now, self.station.name
        for version, weight in ((self.old, old), (self.new, new)):
            recorder.traffic.add(time=now, service=name, version=version.version, weight=weight)

    def analyse(self, since, canary):
        """The canary's verdict on its requests that started since ``since`` and have
        ended: "pass", "fail" or "inconclusive"; one row of ``result.canary_checks``."""
        requests, failed, durations = served(self.recorder, self.station.name, since,
                                             {self.new.version})
        error_rate = failed / requests if requests else math.nan
        p99 = percentile(durations, 0.99)
        if requests < canary.min_requests or requests == 0:
            verdict = "inconclusive"
        elif error_rate > canary.max_error_rate or \
                (canary.max_p99 is not None and not p99 <= canary.max_p99):
            verdict = "fail"
        else:
            verdict = "pass"
        self.recorder.canary_checks.add(
            time=self.now, service=self.station.name, version=self.new.version,
            weight=self.weight, requests=requests, error_rate=error_rate, p99=p99,
            verdict=verdict)
        return verdict


def served(recorder, service, since, versions=None, excluded=()):
    """What ``service`` served among the requests that reached it since ``since`` and have
    ended by now (only those of its ``versions``, a set, if given; none of its
    ``excluded`` versions): (requests, failed, durations of the successful ones). Read
    from the spans recorded so far: spans are written in order of start, so the window
    begins at a binary search, not a scan of the run."""
    columns = recorder.spans.columns
    starts, ends = columns["start"], columns["end"]
    services, kinds, names, statuses = (columns[name] for name in
                                        ("service", "kind", "version", "status"))
    failed, durations = 0, []
    for row in range(bisect.bisect_left(starts, since), len(starts)):
        if services[row] != service or kinds[row] not in ("server", "consumer") \
                or (versions is not None and names[row] not in versions) \
                or names[row] in excluded or ends[row] != ends[row]:
            continue  # another service's, a call's or a message's; or still in progress
        if statuses[row] == "ok":
            durations.append(ends[row] - starts[row])
        else:
            failed += 1
    return failed + len(durations), failed, durations


def percentile(values, q):
    """The ``q`` quantile of ``values`` (the smallest value with at least that share at
    or below it: numpy's "inverted_cdf"), NaN if there are none."""
    return float(np.quantile(values, q, method="inverted_cdf")) if values else math.nan


@dataclass(frozen=True)
class Planned:
    """A deployment scheduled by ``world.deploy``."""

    service: str
    version: str
    at: float
    strategy: Strategy
    defects: tuple
    changes: int


class Deployer(Component):
    """Deploys versions during a run, one deployment per service at a time; opens and
    remediates incidents (see ``incident``). Every component of the run has it as its
    ``deployer`` handle. It acts on the live services (``handles.services``); ``world``
    is the model, for its planned deployments, its remediation policy and its checks."""

    def __init__(self, handles, world):
        self.env, self.recorder = handles.env, handles.recorder
        self.services, self.start_process = handles.services, handles.start_process
        self.world = world
        self.history = {}      # service -> the versions that were promoted, oldest first
        self.strategies = {}   # (service, version) -> the strategy that deployed it
        self.last = {}         # service -> the process of its latest deployment
        self.under_way = {}    # service -> (Deployment, process) in progress
        self.incidents = {}    # service -> the row of its open incident
        self.retired = {}      # service -> the names of its versions rolled back (and "")
        self._deployments = 0
        self._incidents = 0
        self.pipelines = {}    # service -> the pipeline (PipelineRun) that delivers to it
        self.remediation = world.remediation_policy

    @staticmethod
    def needed(world):
        """Does ``world`` deploy with a strategy (``world.deploy``, an alert, or a
        pipeline given an ``sl`` strategy)? A run of it has a deployer."""
        return bool(world.planned_deployments or world.alerts or any(
            isinstance(getattr(p, "strategy", None), Strategy) for p in world.pipelines))

    def start(self, handles):
        for planned in self.world.planned_deployments:
            handles.start_process(self._scheduled(planned))

    def idle(self):
        return not self.under_way

    def _scheduled(self, planned):
        yield Timeout(self.env, planned.at)
        yield self.deploy(planned.service, planned.version, planned.strategy,
                          changes=planned.changes, defect=list(planned.defects))

    def current(self, service):
        """The version of ``service`` in production (the last one promoted)."""
        history = self.history.get(service)
        if history is None:
            station = self.services[service]
            history = self.history[service] = [LiveVersion(station, station.version)]
        return history[-1]

    def deploy(self, service, version, strategy, changes=(), unplanned=False, defect=None):
        """Deploy ``version`` (a name) of ``service`` with ``strategy`` (None: the big-bang
        ``Recreate(downtime=0)``, as for ``world.deploy``); return a SimPy
        event whose value is "succeeded" or "rolled_back". ``changes``: what it ships (a
        count or a list); ``defect``: None, an ``sl.Defect``, a kind, or a list of them.

        A pipeline's version (``simlab.delivery.changes.Version``) names the defects of
        its changes as ``(change, kind)`` pairs: without ``defect``, those kinds are its
        defects, each of typical size (``versions.TYPICAL``)."""
        self.world.check_service(service, "deploy")
        checks.name("version", version)
        strategy = Recreate(downtime=0.0) if strategy is None else strategy
        check_strategy(strategy, self.world.services[service])
        if defect is None:
            defect = [kind for _, kind in getattr(version, "defects", ())]
        defects = as_defects(defect)
        count = changes if isinstance(changes, int) else len(changes)
        return self.start_process(self._deploy(service, str(version), strategy, defects,
                                               count, unplanned))

    def _wait_turn(self, service):
        """Generator: wait until the deployment of ``service`` before this one ended."""
        before = self.last.get(service)
        self.last[service] = self.env.active_process
        if before is not None and before.is_alive:
            yield before  # one deployment of a service at a time

    def _deploy(self, service, version, strategy, defects, changes, unplanned):
        yield from self._wait_turn(service)
        station = self.services[service]
        new = make_version(station, version, defects)
        return (yield from self._roll(service, self.current(service), new, strategy,
                                      strategy.kind, changes, unplanned))

    def _roll(self, service, old, new, strategy, kind, changes, unplanned, rollback=False):
        """Generator: one deployment from ``old`` to ``new``, recorded; its outcome. With
        ``rollback``, ``new`` is in production and the deployment brings ``old`` back."""
        env, recorder = self.env, self.recorder
        station = self.services[service]
        self._deployments += 1
        number = self._deployments
        coming, going = (old, new) if rollback else (new, old)
        row = recorder.deployments.add(
            deployment_id=number, service=service, version=coming.version,
            previous=going.version, strategy=kind, start=env.now, end=math.nan,
            outcome="in_progress", unplanned=unplanned, changes=changes)
        recorder.log(None, None, service, "info", f"deployment {number} begins: "
                     f"{going.version} -> {coming.version} ({kind})")
        d = Deployment(self, station, old, new, strategy)
        if rollback:  # the bad version serves everything; the old one is not running
            self.not_to_blame(service).add(new.version)
            d.weight, d.old_running = 1.0, False
            yield from strategy.roll_back(d)
            self.history[service].pop()
            outcome = "succeeded"
        else:
            self.under_way[service] = (d, env.active_process)
            try:
                promoted = yield from strategy.rollout(d)
            except Interrupt:  # an incident: an alert fired during the rollout
                promoted = None
            del self.under_way[service]
            if promoted is False:
                self.open_incident(service, new.version, "canary", "rollback")
            if not promoted:
                self.not_to_blame(service).add(new.version)
                yield from strategy.roll_back(d)
                self.resolve(service)
            else:
                self.history.setdefault(service, [old]).append(new)
                self.strategies[(service, new.version)] = strategy
            outcome = "succeeded" if promoted else "rolled_back"
        recorder.deployments.set(row, end=env.now, outcome=outcome)
        recorder.log(None, None, service, "info" if outcome == "succeeded" else "warning",
                     f"deployment {number}: {coming.version} {outcome}")
        return outcome

    # -- incidents

    def open_incident(self, service, version, detected_by, remediation):
        """Record an incident opened now; False if one is open for ``service``."""
        if service in self.incidents:
            return False
        self._incidents += 1
        self.incidents[service] = self.recorder.incidents.add(
            incident_id=self._incidents, service=service, version=version,
            opened=self.env.now, detected_by=detected_by, resolved=math.nan,
            remediation=remediation)
        self.recorder.log(None, None, service, "error", f"incident {self._incidents} "
                          f"opened ({detected_by}): {service} {version}")
        return True

    def resolve(self, service):
        row = self.incidents.pop(service, None)
        if row is not None:
            self.recorder.incidents.set(row, resolved=self.env.now)

    def not_to_blame(self, service):
        """The version names of ``service`` whose requests an alert no longer counts: the
        versions rolled back (their failures, still in the alert's window, are not the
        fault of the version now serving) and "", the requests turned away while no
        version ran (a recreate's planned downtime)."""
        return self.retired.setdefault(service, {""})

    def alert(self, service):
        """An alert on ``service`` fired: open an incident and remediate it.

        A deployment under way is interrupted and rolled back. Otherwise the version in
        production is undone as the world's remediation says (``world.remediation``):
        "rollback", back to the version before it, or "hotfix", a new version with the
        good content (see ``hotfix``). With no deployment to undo, the incident waits
        for the alert to clear (``cleared``)."""
        under_way = self.under_way.get(service)
        how, after, hotfix = self.remediation
        history = self.history.get(service, ())
        if under_way is not None:
            how, version = "rollback", under_way[0].new.version
        else:
            version = self.current(service).version
            if len(history) < 2:
                how = ""
        if not self.open_incident(service, version, "alert", how):
            return
        if under_way is not None:
            under_way[1].interrupt("incident")
        elif how:
            self.start_process(self._remediate(service, how, after, hotfix))

    def cleared(self, service):
        """The alert on ``service`` stopped firing: an incident with nothing to undo ends."""
        row = self.incidents.get(service)
        if row is not None and self.recorder.incidents.get(row, "remediation") == "":
            self.resolve(service)

    def add_pipeline(self, pipeline):
        """``pipeline`` (a ``PipelineRun``) delivers to its service through this deployer:
        a hotfix hook may send a fix through it (see ``world.remediation``)."""
        self.pipelines[pipeline.pipeline.service] = pipeline

    def incident_versions(self, service):
        """The version the open incident of ``service`` is about, and the last version
        promoted before it: what a remediation undoes, and what it goes back to. (The
        version in production may be a newer one by then: the pipeline kept deploying.)"""
        history = self.history[service]
        row = self.incidents.get(service)
        named = self.recorder.incidents.get(row, "version") if row is not None else None
        bad = next((v for v in history if v.version == named), history[-1])
        return bad, history[max(history.index(bad) - 1, 0)]

    def _remediate(self, service, how, after, hotfix):
        yield Timeout(self.env, after)
        history = self.history[service]
        if how == "rollback":  # a deployment of the good version, the way bad came in
            yield from self._wait_turn(service)
            bad, good = self.incident_versions(service)
            current = history[-1]
            outcome = yield from self._roll(service, good, current,
                                            self.strategies[(service, current.version)],
                                            "rollback", 0, True, rollback=True)
            if bad in history:  # the versions promoted on top of bad went with it
                gone = history[history.index(bad):]
                self.not_to_blame(service).update(version.version for version in gone)
                del history[history.index(bad):]
        else:
            bad, _ = self.incident_versions(service)
            outcome = yield (hotfix or default_hotfix)(self, service)
            if outcome == "succeeded" and bad in history:
                history.remove(bad)  # a later rollback goes back past it
        if outcome == "succeeded":
            self.resolve(service)
        return outcome


def default_hotfix(deployer, service):
    """The hotfix of the version of ``service`` in production: a new version named
    "<bad>-hotfix" with the content of the version before it (its defects, usually
    none), deployed unplanned with the strategy that deployed the bad one. Returns the
    deployment's event.

    This is the hook a CI/CD pipeline replaces (``world.remediation(hotfix=...)``): a
    function ``hotfix(deployer, service)`` returning a SimPy event whose value is
    "succeeded" or "rolled_back", such as a fix that goes through the pipeline's stages
    and ends in ``deployer.deploy(..., unplanned=True)``.
    """
    bad, good = deployer.incident_versions(service)
    defects = []
    if not good.clean:  # rebuild the good version's defects, which it still has
        if good.slow != 1.0:
            defects.append(Defect("slow", factor=good.slow))
        if good.errors:
            defects.append(Defect("errors", rate=good.errors))
        if good.broken:
            defects.append(Defect("broken", share=good.broken))
    return deployer.deploy(service, f"{bad.version}-hotfix",
                           deployer.strategies[(service, bad.version)], unplanned=True,
                           defect=defects)


def check_strategy(strategy, service, owner="deploy"):
    if not isinstance(strategy, Strategy):
        checks.refuse(owner, "strategy", "sl.Recreate(...), sl.Rolling(...), "
                      "sl.BlueGreen(...) or sl.Canary(...)", strategy)
    strategy.check_service(service)
