"""A CI/CD pipeline: changes flow from commit, through test stages on shared CI runners,
to production, in batches.

Build one with ``world.pipeline("orders", commits=sl.Poisson(rate=0.05), ...)``. During
a run each change goes:

1. through the **per-change stages** (build, unit tests), each waiting for one of the
   pipeline's ``runners`` (a SimPy ``Resource``: the wait is part of the lead time);
2. into a **pool** of changes that passed, until the batching takes it (at once, at the
   next tick of a ``Schedule``, or when its turn in a merge queue comes);
3. with its batch through the **per-batch stages** (integration, staging, ...), and
4. to **production**: a new version, deployed one batch at a time (``deploy`` below).

**Failures.** A run of a stage fails when it catches a defect (each defect, each run,
with the stage's probability for its kind) or, with probability ``flaky``, for no reason
at all. A failed run is re-run automatically up to ``reruns`` times, on a runner again;
if a re-run passes, the stage passes, and an intermittent defect the first run caught
slips through. When every run failed: the changes whose defects the last run caught are
**caught** (they leave the pipeline: their authors fix them); the others go on: a change
whose own stage failed only spuriously runs it again (someone presses "re-run"), and a
batch's other changes try again at once as a new batch (in a merge queue: at the front
of the queue).

**Rollbacks.** When production rolls a version back, its changes are not all guilty.
A change that carried a defect leaves (outcome ``rolled_back``); its author fixes it and,
``fix_time`` later, commits the fix: a **new change**, whose ``resubmits`` names the old
one (a fix is new code: it may carry a defect of its own, with the same ``defect_rate``).
A change without a defect was collateral: the *same* change goes back into the pipeline
at once, with its batch's other innocent changes, as a failed batch's do (its
``attempt`` counts the tries; its commit, and so its lead time, stay its own). After
``MAX_ATTEMPTS`` rollbacks it stops: a strategy that rolls back everything (a strict
canary with no traffic to judge) would otherwise deploy it for ever.

**Hotfixes.** An incident remediated by a fix forward can go through the pipeline
(``PipelineRun.hotfix``, the hook of ``simlab.scenarios.release``): the hotfix is a
change, marked ``unplanned``, that runs every stage on the same runners, expedited (a
batch of its own, waiting for no train and no queue), and is deployed as
``"<bad version>-hotfix"``, unplanned.

Every change's story is a row of ``result.changes``; every run of a stage, a row of
``result.pipeline_runs``.
"""

import math

from simpy.events import Event, Timeout
from simpy.resources.resource import Resource

from .. import checks
from ..components import Component
from ..distributions import LogNormal
from ..errors import ModelError, ModelTypeError
from ..load import Poisson
from .changes import DEFAULT_MIX, Change, Version, check_mix, draw_defect
from .deploy import check_strategy
from .stages import MergeQueue, Schedule, as_duration, check_batching, check_stages, \
    default_stages

#: How long the author of a rolled-back defective change takes to commit its fix (minutes).
FIX_TIME = LogNormal(median=60, p99=240)
#: How many times a change without a defect goes to production before it gives up.
MAX_ATTEMPTS = 5


MOST_FLAKY = 0.5  # a test that fails for no reason more often is quarantined, not run


class Pipeline:
    """The description of one service's pipeline; see ``World.pipeline`` for the
    arguments. Each run makes its own ``PipelineRun`` from it (``component(handles)``)."""

    def __init__(self, world, service, commits, defect_rate=0.1, defects=None,
                 batching="continuous", runners=2, stages=None, flaky=0.0, reruns=0,
                 strategy=None, duration=None, start=0.0, fix_time=None):
        owner = f"pipeline of {service!r}"
        if not isinstance(service, str) or service not in world.services:
            raise ModelError(f"pipeline: unknown service {service!r}; known services: "
                             f"{sorted(world.services)}. Add the service with "
                             "world.service(...) before its pipeline")
        if not isinstance(commits, Poisson):
            checks.refuse(owner, "commits", "sl.Poisson(rate=...) (changes per minute)",
                          commits)
        if duration is None:
            raise ModelTypeError(f"{owner}: duration is missing (got None): for how many "
                                 "minutes do the teams commit? (e.g. duration=sl.delivery.WEEK)")
        self.service = service
        self.commits = commits
        self.defect_rate = checks.probability(owner, "defect_rate", defect_rate)
        self.defects = check_mix(owner, DEFAULT_MIX if defects is None else defects)
        self.batching = check_batching(owner, batching)
        self.runners = checks.count(owner, "runners", runners)
        self.stages = check_stages(owner, default_stages() if stages is None else stages)
        self.flaky = checks.probability(owner, "flaky", flaky)
        self.reruns = checks.count(owner, "reruns", reruns, least=0)
        # A stage passes a change on a press of "re-run" with probability
        # 1 - flaky ** (reruns + 1): near flaky = 1 a change is re-run for ever.
        if self.flaky > MOST_FLAKY:
            raise ModelError(f"{owner}: flaky={self.flaky:g}: a stage that fails for no "
                             "reason that often re-runs its changes almost for ever; a test "
                             f"that flaky is quarantined, not run: use at most {MOST_FLAKY:g}")
        if strategy is not None:  # None: production is a timed stage (see deploy below)
            check_strategy(strategy, world.services[service], owner)
        self.strategy = strategy
        self.duration = checks.seconds(owner, "duration", duration, positive=True,
                                       unit="minutes")
        self.start = checks.seconds(owner, "start", start, unit="minutes")
        self.fix_time = FIX_TIME if fix_time is None else \
            as_duration(owner, "fix_time", fix_time)

    def __repr__(self):
        return (f"Pipeline({self.service!r}, commits={self.commits!r}, "
                f"batching={self.batching!r}, runners={self.runners})")

    @property
    def end(self):
        """When the last commit may come."""
        return self.start + self.duration

    def component(self, handles):
        return PipelineRun(handles, self)


def deploy(handles, pipeline, version, rng, unplanned=False):
    """The production stage: deploy ``version`` of the pipeline's service, and return
    its outcome, ``"succeeded"`` or ``"rolled_back"`` (a generator: use ``yield from``).

    The one place where the pipeline meets the deployment side. A run that has a
    deployer (``handles.deployer``) deploys with the pipeline's strategy, which may roll
    the version back; without one, a deployment takes the production stage's own
    duration and always succeeds.
    """
    deployer = handles.deployer
    if deployer is None:
        yield Timeout(handles.env, pipeline.stages[-1].duration.sample(rng))
        return "succeeded"
    outcome = yield deployer.deploy(pipeline.service, version, pipeline.strategy,
                                    changes=version.changes, unplanned=unplanned)
    return outcome


class PipelineRun(Component):
    """One pipeline during one run. Idle once no more commits will come and no change is
    in the pipeline (in a stage, in the pool, or being deployed)."""

    def __init__(self, handles, pipeline):
        self.handles = handles  # kept: the deployer is looked up when a version is ready
        self.env = handles.env
        self.start_process = handles.start_process
        self.pipeline = pipeline
        self.runners = Resource(self.env, capacity=pipeline.runners)
        self.lane = Resource(self.env, capacity=1)  # one deployment at a time
        name = f"pipeline:{pipeline.service}"
        streams = handles.streams
        self.rng_changes = streams.stream(f"{name}:changes")  # arrivals and defects
        self.rng_times = streams.stream(f"{name}:durations")
        self.rng_tests = streams.stream(f"{name}:tests")      # catches and flakes
        self.rng_fixes = streams.stream(f"{name}:fixes")      # fixes of rolled-back defects
        self.changes = handles.recorder.changes
        self.runs = handles.recorder.pipeline_runs
        self.major = handles.services[pipeline.service].service.version.split(".")[0]
        self.change_stages = [s for s in pipeline.stages if s.per == "change"]
        self.batch_stages = [s for s in pipeline.stages if s.per == "batch" and not s.deploys]
        self.committing = True
        self.in_flight = 0   # changes committed that have not left the pipeline
        self.pool = []       # changes that passed their change stages, waiting for a batch
        self.batches = 0
        self.versions = 0
        self.arrived = None  # the event a merge queue waits on when its pool is empty

    def start(self, handles):
        if handles.deployer is not None:
            handles.deployer.add_pipeline(self)  # for a hotfix sent through the pipeline
        handles.start_process(self._commit())
        batching = self.pipeline.batching
        if isinstance(batching, Schedule):
            handles.start_process(self._schedule(batching.every))
        elif isinstance(batching, MergeQueue):
            handles.start_process(self._merge_queue(batching.group))

    def idle(self):
        return not self.committing and self.in_flight == 0

    # -- changes

    def _commit(self):
        """Commit changes, Poisson, from ``start`` for ``duration`` minutes."""
        pipeline, env, rng = self.pipeline, self.env, self.rng_changes
        if pipeline.start:
            yield Timeout(env, pipeline.start)
        while True:
            gap = rng.expovariate(pipeline.commits.rate)
            if env.now + gap >= pipeline.end:
                break
            yield Timeout(env, gap)
            self._new_change(draw_defect(rng, pipeline.defect_rate, pipeline.defects))
        self.committing = False
        self._wake()

    def _new_change(self, defect, resubmits=0, hotfix=""):
        """A change committed now: its row, and its way through the change stages."""
        unplanned = bool(hotfix)
        row = self.changes.add(
            change_id=len(self.changes) + 1, service=self.pipeline.service, commit=self.env.now,
            unplanned=unplanned, resubmits=resubmits, defective=bool(defect), defect=defect,
            caught="", batch=0, attempt=1, version="", outcome="in_pipeline", left=math.nan,
            live=math.nan)
        self.in_flight += 1
        change = Change(row + 1, self.env.now, defect, row, hotfix,
                        Event(self.env) if unplanned else None)
        self.start_process(self._change_stages(change))
        return change

    def hotfix(self, bad):
        """Fix forward: a hotfix of version ``bad``, committed now; returns the SimPy event
        of its deployment's outcome ("succeeded" or "rolled_back").

        An unplanned change without the defect: it runs every stage on the pipeline's
        runners (waiting in line with the team's changes: a busy pipeline is a slow
        recovery), as a batch of its own that waits for no train and no queue, and is
        deployed with the pipeline's strategy as ``"<bad>-hotfix"``, unplanned. Its runs
        are rows of ``result.pipeline_runs``, it is a row of ``result.changes``."""
        return self._new_change("", hotfix=str(bad)).done

    def _fix(self, change):
        """The author of ``change``, a defective change rolled back, fixes it: after
        ``fix_time``, the fix enters the pipeline as a new change (it stays in flight
        meanwhile: the run waits for it)."""
        yield Timeout(self.env, self.pipeline.fix_time.sample(self.rng_fixes))
        self.in_flight -= 1
        pipeline = self.pipeline
        self._new_change(draw_defect(self.rng_fixes, pipeline.defect_rate, pipeline.defects),
                         resubmits=change.id)

    def _change_stages(self, change):
        for stage in self.change_stages:
            while True:
                result, caught = yield from self._run_stage(stage, [change], change.id, 0)
                if result == "pass":
                    break
                if caught:
                    self._leave(change, "caught", caught=stage.name)
                    return
                # Failed spuriously, every re-run too: someone presses "re-run".
        self._to_pool([change])

    def _leave(self, change, outcome, **fields):
        self.changes.set(change.row, outcome=outcome, left=self.env.now, **fields)
        self.in_flight -= 1
        self._wake()

    # -- stages on runners

    def _run_stage(self, stage, changes, change_id, batch):
        """Run ``stage`` for ``changes``, with automatic re-runs; return ``(result, the
        changes whose defects its last run caught)``; result is pass, fail or flaky."""
        env, flaky = self.env, self.pipeline.flaky
        defective = [change for change in changes if change.defect]
        for attempt in range(1, self.pipeline.reruns + 2):
            requested = env.now
            with self.runners.request() as runner:
                yield runner
                start = env.now
                yield Timeout(env, stage.duration.sample(self.rng_times))
            caught = [c for c in defective if self.rng_tests.random() < stage.catch(c.defect)]
            flaked = flaky > 0 and self.rng_tests.random() < flaky
            result = "fail" if caught else "flaky" if flaked else "pass"
            self.runs.add(service=self.pipeline.service, stage=stage.name, change_id=change_id,
                          batch=batch, attempt=attempt, requested=requested,
                          wait=start - requested, start=start, end=env.now, result=result,
                          caught=" ".join(f"{c.id}:{c.defect}" for c in caught), version="")
            if result == "pass":
                return result, []
        return result, caught

    # -- batches

    def _to_pool(self, changes):
        """Changes that passed their change stages wait for the batching to take them."""
        for change in changes:
            self.changes.set(change.row, outcome="waiting")
        if self.pipeline.batching == "continuous" or any(c.hotfix for c in changes):
            # Continuous: each change alone. A hotfix (alone too) is expedited.
            for change in changes:
                self.start_process(self._batch([change]))
            return
        self.pool += changes
        self._wake()

    def _retry(self, changes):
        """The changes of a failed batch that were not caught try again at once, as a
        new batch (the culprits reverted); in a merge queue, at the front of the queue."""
        if not changes:
            return
        if isinstance(self.pipeline.batching, MergeQueue) and not changes[0].hotfix:
            self.pool = changes + self.pool
        else:
            self.start_process(self._batch(changes))

    def _wake(self):
        if self.arrived is not None and not self.arrived.triggered:
            self.arrived.succeed()

    def _schedule(self, every):
        """A release train: every ``every`` minutes, all the pool goes as one batch."""
        while not self.idle():
            yield Timeout(self.env, every)
            if self.pool:
                changes, self.pool = self.pool, []
                self.start_process(self._batch(changes))

    def _merge_queue(self, group):
        """A merge queue: ``group`` changes at a time, each group after the one before."""
        while not self.idle():
            if not self.pool:
                self.arrived = Event(self.env)
                yield self.arrived
                continue
            changes, self.pool = self.pool[:group], self.pool[group:]
            yield self.start_process(self._batch(changes))

    def _batch(self, changes):
        """Take ``changes`` through the batch stages and to production, as one batch."""
        self.batches += 1
        batch = self.batches
        for change in changes:
            self.changes.set(change.row, batch=batch, outcome="in_pipeline")
        for stage in self.batch_stages:
            result, caught = yield from self._run_stage(stage, changes, 0, batch)
            if result != "pass":
                for change in caught:
                    self._leave(change, "caught", caught=stage.name)
                self._retry([c for c in changes if c not in caught])
                return
        yield from self._production(changes, batch)

    def _production(self, changes, batch):
        hotfix = changes[0].hotfix  # a hotfix travels alone
        if hotfix:
            version = Version(f"{hotfix}-hotfix", [c.id for c in changes])
        else:
            self.versions += 1
            version = Version(f"{self.major}.{self.versions}", [c.id for c in changes],
                              [(c.id, c.defect) for c in changes if c.defect])
        requested = start = self.env.now
        if hotfix:  # it does not queue behind the planned deployments (the deployer
            # still lets the deployment under way end first)
            outcome = yield from deploy(self.handles, self.pipeline, version, self.rng_times,
                                        unplanned=True)
        else:
            with self.lane.request() as turn:  # one planned deployment at a time
                yield turn
                start = self.env.now
                outcome = yield from deploy(self.handles, self.pipeline, version, self.rng_times)
        self.runs.add(service=self.pipeline.service, stage=self.pipeline.stages[-1].name,
                      change_id=0, batch=batch, attempt=1, requested=requested,
                      wait=start - requested, start=start, end=self.env.now,
                      result="pass" if outcome == "succeeded" else "fail", caught="",
                      version=str(version))
        if outcome == "succeeded":
            for change in changes:
                self._leave(change, "live", version=str(version), live=self.env.now)
        else:
            self._rolled_back(changes, version)
        if hotfix:
            changes[0].done.succeed(outcome)

    def _rolled_back(self, changes, version):
        """The changes of a version that was rolled back: a defective one leaves, and its
        author's fix follows (``_fix``); the others were collateral and go back into the
        pipeline at once, as a new batch, up to ``MAX_ATTEMPTS`` times."""
        back = []
        for change in changes:
            attempt = self.changes.get(change.row, "attempt")
            if change.defect or change.hotfix or attempt >= MAX_ATTEMPTS:
                self._leave(change, "rolled_back", version=str(version))
                if change.defect:
                    self.in_flight += 1
                    self.start_process(self._fix(change))
            else:
                self.changes.set(change.row, attempt=attempt + 1, outcome="waiting")
                back.append(change)
        self._retry(back)
