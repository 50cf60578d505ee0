"""Delivery pipelines: the ledger of changes, the theory they must obey, the glue to the
deployment side, the DORA metrics, and clear errors for bad input.

Statistical checks allow Z standard errors, from the run's own sampling error: a
binomial standard error for shares, batch means (as in ``tests/test_theory.py``) for
queueing averages. Every run is seeded, so the tests are deterministic.
"""

import math
import types

import numpy as np
import pandas as pd
import pytest

import simlab as sl
from simlab import theory
from simlab.components import Component
from simlab.delivery import DAY, MergeQueue, Production, Stage

Z = 4.0
BATCHES = 20


def pipeline_world(seed=1, service="app", **pipeline):
    world = sl.World(seed=seed)
    world.service(service)
    pipeline.setdefault("commits", sl.Poisson(rate=0.02))
    pipeline.setdefault("duration", 7 * DAY)
    world.pipeline(service, **pipeline)
    return world


def one_stage(duration, catches=None):
    return [Stage("build", duration, catches or {}), Production(0)]


def batch_means(values, batches=BATCHES):
    values = np.asarray(values, dtype=float)
    size = len(values) // batches
    means = values[: size * batches].reshape(batches, size).mean(axis=1)
    return means.mean(), means.std(ddof=1) / math.sqrt(batches)


def assert_share(observed, trials, expected):
    """``observed`` successes in ``trials`` agree with probability ``expected``."""
    se = math.sqrt(expected * (1 - expected) / trials)
    assert abs(observed / trials - expected) < Z * se, (
        f"{observed}/{trials} = {observed / trials:.4f}, expected {expected:.4f} "
        f"(allowed {Z} SE = {Z * se:.4f})")


# -- the ledger


@pytest.mark.parametrize("batching", ["continuous", sl.Schedule(every=DAY), "merge-queue",
                                      MergeQueue(group=3)])
def test_every_change_ends_live_or_caught_and_its_times_add_up(batching):
    result = pipeline_world(batching=batching, defect_rate=0.3, flaky=0.1, reruns=1).run()
    changes = result.changes
    assert len(changes) > 150
    assert set(changes.outcome) == {"live", "caught"}
    live = changes[changes.outcome == "live"]
    caught = changes[changes.outcome == "caught"]
    assert (live.live == live.left).all() and (live.left > live.commit).all()
    assert np.allclose(live.lead_time, live.live - live.commit)
    assert (live.version != "").all() and (live.batch > 0).all() and (live.caught == "").all()
    assert caught.defective.all() and (caught.caught != "").all() and caught.live.isna().all()
    # A change's defect is recorded only on defective changes, and is one of the kinds.
    assert set(changes.defect[changes.defective]) <= set(sl.delivery.DEFECT_KINDS)
    assert (changes.defect[~changes.defective] == "").all()
    # Every version went live at one instant, with all its changes.
    assert (live.groupby("version").live.nunique() == 1).all()


def test_a_run_stopped_early_leaves_changes_waiting_or_in_the_pipeline():
    result = pipeline_world(batching=sl.Schedule(every=DAY)).run(until=DAY - 1)
    changes = result.changes
    assert {"waiting", "in_pipeline"} <= set(changes.outcome)
    assert changes.left[changes.outcome.isin(["waiting", "in_pipeline"])].isna().all()


def test_runners_are_shared_and_never_over_booked():
    runners = 2
    result = pipeline_world(commits=sl.Poisson(rate=0.06), runners=runners).run()
    runs = result.pipeline_runs
    on_runners = runs[runs.stage != "production"]
    assert (on_runners.wait >= 0).all() and (on_runners.wait > 0).any()
    assert np.allclose(on_runners.start - on_runners.requested, on_runners.wait)
    # At most `runners` stage runs at any instant (+1 at a start, -1 at an end; ends first).
    steps = pd.concat([pd.DataFrame({"t": on_runners.start, "d": 1}),
                       pd.DataFrame({"t": on_runners.end, "d": -1})])
    busy = steps.sort_values(["t", "d"], kind="stable").d.cumsum()
    assert busy.max() == runners


def test_a_merge_queue_takes_one_group_at_a_time():
    result = pipeline_world(commits=sl.Poisson(rate=0.06), batching=MergeQueue(group=2)).run()
    runs = result.pipeline_runs
    batches = runs[runs.batch > 0].groupby("batch").agg(start=("start", "min"),
                                                         end=("end", "max"))
    assert len(batches) > 50
    assert (batches.start.to_numpy()[1:] >= batches.end.to_numpy()[:-1]).all()
    batched = result.changes[result.changes.batch > 0]
    assert batched.groupby("batch").size().max() <= 2


def test_same_seed_same_tables_and_another_seed_others():
    def tables(seed):
        result = pipeline_world(seed=seed, defect_rate=0.3, flaky=0.1, reruns=1,
                                batching=MergeQueue(group=2)).run()
        return result.changes, result.pipeline_runs

    first, again, other = tables(3), tables(3), tables(4)
    for a, b in zip(first, again):
        pd.testing.assert_frame_equal(a, b)
    assert not first[0].equals(other[0])


# -- theory


def test_waiting_for_a_runner_is_erlang_c_and_changes_in_flight_obey_littles_law():
    """One stage with exponential durations, c runners, Poisson commits: an M/M/c queue."""
    lam, mu, c, n = 1.2, 1.0, 2, 20_000
    result = pipeline_world(commits=sl.Poisson(rate=lam), defect_rate=0.0, runners=c,
                            duration=n / lam, stages=one_stage(sl.Exp(mean=1 / mu))).run()
    runs = result.pipeline_runs
    build = runs[runs.stage == "build"].sort_values("requested", kind="stable")
    build = build.iloc[len(build) // 20:]  # the run starts empty: drop a warm-up
    wait, se = batch_means(build.wait)
    expected = theory.mmc_wait(lam, mu, c)
    assert se < 0.1 * expected and abs(wait - expected) < Z * se, (wait, se, expected)
    # Little's law: the changes in flight, integrated exactly over a window from the
    # changes table, average to rate x mean time in the pipeline.
    changes = result.changes
    begin, end = 0.05 * n / lam, n / lam
    edges = np.linspace(begin, end, BATCHES + 1)
    wip = [np.clip(np.minimum(changes.left, b) - np.maximum(changes.commit, a), 0, None).sum()
           / (b - a) for a, b in zip(edges[:-1], edges[1:])]
    mean_wip, se = np.mean(wip), np.std(wip, ddof=1) / math.sqrt(BATCHES)
    expected = lam * theory.mmc_sojourn(lam, mu, c)
    assert se < 0.05 * expected and abs(mean_wip - expected) < Z * se, (mean_wip, se, expected)


def test_a_batch_of_k_changes_is_bad_with_probability_one_minus_good_to_the_k():
    p = 0.1
    result = pipeline_world(commits=sl.Poisson(rate=0.1), defect_rate=p, duration=40 * DAY,
                            batching=sl.Schedule(every=60), stages=one_stage(1.0)).run()
    batches = result.changes[result.changes.batch > 0].groupby("batch").agg(k=("change_id", "size"),
                                                  bad=("defective", "any"))
    assert batches.k.nunique() > 5  # Poisson batch sizes: the law is checked across k
    chance = 1 - (1 - p) ** batches.k
    expected, sd = chance.sum(), math.sqrt((chance * (1 - chance)).sum())
    assert abs(batches.bad.sum() - expected) < Z * sd, (batches.bad.sum(), expected, sd)
    big = batches[batches.k >= 8]
    assert_share(big.bad.sum(), len(big), (1 - (1 - p) ** big.k).mean())


@pytest.mark.parametrize("flaky, reruns", [(0.3, 0), (0.3, 1), (0.5, 2)])
def test_a_flaky_stage_fails_spuriously_with_probability_f_to_the_reruns_plus_one(flaky,
                                                                                  reruns):
    result = pipeline_world(commits=sl.Poisson(rate=0.5), defect_rate=0.0, runners=8,
                            flaky=flaky, reruns=reruns, stages=one_stage(1.0)).run()
    runs = result.pipeline_runs
    build = runs[runs.stage == "build"]
    executions = (build.attempt == 1).sum()
    failed = ((build.result == "flaky") & (build.attempt == reruns + 1)).sum()
    assert_share(failed, executions, flaky ** (reruns + 1))
    assert set(build.result) <= {"pass", "flaky"}
    # A spuriously failed change is run again until it passes: all of them ship.
    assert (result.changes.outcome == "live").all()


@pytest.mark.parametrize("reruns", [0, 1, 2])
def test_re_runs_give_an_intermittent_defect_more_chances_to_slip_through(reruns):
    q = 0.6  # each run catches the defect with probability q
    result = pipeline_world(commits=sl.Poisson(rate=0.5), defect_rate=1.0, runners=8,
                            defects={"errors": 1}, reruns=reruns,
                            stages=one_stage(1.0, {"errors": q})).run()
    changes = result.changes
    caught = (changes.caught == "build").sum()
    assert_share(caught, len(changes), q ** (reruns + 1))
    assert ((changes.outcome == "live") == (changes.caught == "")).all()


# -- the production stage and the deployment side


class FakeDeployer(Component):
    """Stands in for the deployment side: rolls back every version with a defect."""

    def __init__(self, handles):
        self.env = handles.env
        self.calls = []
        handles.deployer = self  # every part of the run now deploys through it

    def add_pipeline(self, pipeline):
        pass

    def deploy(self, service, version, strategy, changes=(), unplanned=False):
        self.calls.append((service, version, strategy, changes, unplanned))
        outcome = "rolled_back" if version.defects else "succeeded"
        return self.env.timeout(5.0, value=outcome)


def test_production_hands_each_version_and_its_defects_to_the_deployer():
    canary = sl.Canary(step=0.5)
    world = pipeline_world(defect_rate=0.4, strategy=canary, batching=MergeQueue(group=3))
    deployers = []
    world.add_component(lambda handles: deployers.append(FakeDeployer(handles))
                        or deployers[-1])
    result = world.run()
    calls = deployers[0].calls
    changes = result.changes.set_index("change_id")
    assert len(calls) > 10
    for service, version, strategy, ids, unplanned in calls:
        assert (service, strategy, unplanned) == ("app", canary, False)
        shipped = changes.loc[list(ids)]
        assert list(version.defects) == [(i, kind) for i, kind in shipped.defect.items() if kind]
        if not version.defects:
            assert (shipped.version == version).all() and set(shipped.outcome) == {"live"}
            continue
        # Rolled back: the defective changes leave with it; the others went again later.
        guilty, innocent = shipped[shipped.defective], shipped[~shipped.defective]
        assert (guilty.version == version).all() and set(guilty.outcome) == {"rolled_back"}
        assert (innocent.version != version).all() and (innocent.attempt >= 2).all()
    rolled_back = changes[changes.outcome == "rolled_back"]
    assert len(rolled_back) and rolled_back.live.isna().all() and rolled_back.defective.all()
    production = result.pipeline_runs[result.pipeline_runs.stage == "production"]
    assert set(production.result) == {"pass", "fail"}
    assert np.allclose(production.end - production.start, 5.0)


def test_a_rolled_back_change_goes_again_if_innocent_and_is_fixed_if_defective():
    """Collateral changes go back at once (the same change, a new attempt); the author of
    a defective one commits a fix ``fix_time`` later (a new change, linked)."""
    world = pipeline_world(defect_rate=0.3, strategy=sl.Canary(step=0.5),
                           batching=sl.Schedule(every=DAY / 4), fix_time=sl.Constant(90.0))
    world.add_component(FakeDeployer)
    changes = world.run().changes.set_index("change_id")
    # The run drained: every change ended live, caught, or rolled back for its defect.
    assert set(changes.outcome) == {"live", "caught", "rolled_back"}
    rolled_back = changes[changes.outcome == "rolled_back"]
    assert len(rolled_back) >= 10 and rolled_back.defective.all()
    went_again = changes[changes.attempt > 1]
    assert len(went_again) >= 10 and not went_again.defective.any()
    assert (went_again.outcome == "live").all()
    fixes = changes[changes.resubmits > 0]
    # Exactly one fix per rolled-back change, committed fix_time after it left.
    assert sorted(fixes.resubmits) == sorted(rolled_back.index)
    assert np.allclose(fixes.commit.to_numpy(),
                       rolled_back.left.loc[fixes.resubmits].to_numpy() + 90.0)
    # A fix is new code: a share of them carry a defect of their own.
    assert 0 < fixes.defective.mean() < 0.8
    assert not changes.unplanned.any()  # no hotfixes without incidents


def test_a_change_that_every_deployment_rolls_back_gives_up_after_max_attempts():
    class RollsBackAll(FakeDeployer):
        def deploy(self, service, version, strategy, changes=(), unplanned=False):
            return self.env.timeout(5.0, value="rolled_back")

    world = pipeline_world(defect_rate=0.0, strategy=sl.Canary(step=0.5), duration=DAY)
    world.add_component(RollsBackAll)
    changes = world.run().changes
    assert len(changes) > 10 and (changes.outcome == "rolled_back").all()
    assert (changes.attempt == sl.delivery.pipeline.MAX_ATTEMPTS).all()
    assert (changes.resubmits == 0).all()  # nothing to fix: none was defective


def test_without_a_deployer_production_is_a_timed_stage_that_always_succeeds():
    result = pipeline_world(stages=one_stage(1.0)[:1] + [Production(sl.Constant(7.0))]).run()
    production = result.pipeline_runs[result.pipeline_runs.stage == "production"]
    assert (production.result == "pass").all() and np.allclose(production.end -
                                                               production.start, 7.0)
    assert sorted(production.version, key=lambda v: int(v.split(".")[1]))[:2] == ["1.1", "1.2"]


# -- DORA


def test_dora_without_a_deployer_reads_the_pipeline_and_leaves_failures_unknown():
    result = pipeline_world(defect_rate=0.2).run()
    dora = result.dora()
    live = result.changes.dropna(subset=["live"])
    assert dora.value["lead_time_p50"] == pytest.approx(live.lead_time.median())
    assert dora.value["lead_time_p90"] == pytest.approx(live.lead_time.quantile(0.9))
    deployments = (result.pipeline_runs.stage == "production").sum()
    assert dora.value["deployment_frequency"] == pytest.approx(
        deployments / (result.end_time / DAY))
    for metric in ("change_fail_rate", "recovery_time", "rework_rate"):
        assert math.isnan(dora.value[metric]) and "no deployer" in dora.note[metric]
    assert math.isnan(dora.value["slo_attainment"])  # no requests in this world
    first_day = result.dora(window=(0, DAY))
    assert first_day.value["deployment_frequency"] < dora.value["deployment_frequency"] * 1.5


def test_a_pipeline_runs_beside_request_load_and_dora_reports_its_reliability():
    world = sl.World(seed=2)
    api = world.service("api", workers=2, work=sl.Exp(mean=0.01), error_rate=0.1)

    @api.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()

    world.load(sl.Poisson(rate=50), target=("api", "get"), duration=20)
    world.pipeline("api", commits=sl.Poisson(rate=0.5), duration=60, stages=one_stage(1.0))
    result = world.run()
    assert result.end_time >= result.changes.left.max() > result.requests.end.max()
    assert len(result.changes) > 10 and len(result.requests) > 500
    dora = result.dora()
    assert dora.value["slo_attainment"] == pytest.approx((result.requests.outcome == "ok").mean())
    assert dora.value["slo_attainment"] < 0.95  # the service fails a tenth of its requests
    with pytest.raises(sl.ModelError, match="window"):
        result.dora(window=(10, 5))


def test_dora_from_deployments_and_incidents_follows_the_definitions():
    """Hand-made tables with known answers, laid out as the deployment side records them:
    1.2's canary failed; 1.3 caused an incident, which a rollback to 1.1 remedied."""
    deployments = pd.DataFrame({
        "deployment_id": [1, 2, 3, 4], "service": "app", "version": ["1.1", "1.2", "1.3", "1.1"],
        "strategy": ["canary", "canary", "canary", "rollback"],
        "start": [0.0, 100.0, 200.0, 240.0], "end": [10.0, 110.0, 215.0, 245.0],
        "outcome": ["succeeded", "rolled_back", "succeeded", "succeeded"],
        "unplanned": [False, False, False, True], "changes": [1, 1, 1, 0]})
    incidents = pd.DataFrame({
        "incident_id": [1], "service": "app", "version": ["1.3"], "opened": [230.0],
        "detected_by": ["alert"], "resolved": [245.0], "remediation": ["rollback"]})
    changes = pd.DataFrame({"commit": [0.0, 50.0], "live": [10.0, np.nan],
                            "unplanned": [False, False]})
    changes["lead_time"] = changes.live - changes.commit
    requests = pd.DataFrame({"start": [1.0, 2.0, 3.0, 4.0],
                             "outcome": ["ok", "ok", "error", "in_flight"]})
    watched = types.SimpleNamespace(planned_deployments=[1], alerts=[], pipelines=[])
    result = types.SimpleNamespace(end_time=DAY, changes=changes, deployments=deployments,
                                   incidents=incidents, requests=requests, world=watched)
    dora = sl.delivery.dora_metrics(result).value
    assert dora["lead_time_p50"] == 10.0
    assert dora["deployment_frequency"] == 3.0        # the rollback brings no new version
    assert dora["change_fail_rate"] == 2 / 3          # 1.2 rolled back, 1.3 caused an incident
    assert dora["recovery_time"] == np.median([110.0 - 100.0, 245.0 - 200.0])
    assert dora["rework_rate"] == 0.25                # the rollback was unplanned
    assert dora["slo_attainment"] == pytest.approx(2 / 3)


def test_dora_says_a_deployer_watched_even_when_nothing_was_deployed():
    world = sl.World(seed=1)
    world.service("app", work=sl.Exp(mean=0.01))
    world.pipeline("app", commits=sl.Poisson(rate=0.001), duration=10, strategy=sl.Canary())
    world.load(sl.Poisson(rate=5), target=("app", "get"), duration=10)

    @world.services["app"].endpoint("get")
    def get(ctx, request):
        yield ctx.work()

    dora = world.run().dora()
    assert dora.value["deployment_frequency"] == 0
    assert "no deployer" not in " ".join(dora.note)


# -- bad input


def world_with_service():
    world = sl.World(seed=1)
    world.service("app")
    return world


@pytest.mark.parametrize("arguments, culprit", [
    (dict(service="nope"), "unknown service 'nope'"),
    (dict(runners=0), "runners"),
    (dict(defect_rate=1.5), "defect_rate"),
    (dict(defect_rate=-0.1), "defect_rate"),
    (dict(batching="nightly"), "batching"),
    (dict(flaky=1.0), "flaky"),
    (dict(flaky=0.9999), "flaky=0.9999: a stage that fails for no reason"),
    (dict(reruns=-1), "reruns"),
    (dict(commits=3), "commits"),
    (dict(duration=None), "duration"),
    (dict(defects={"oops": 1}), "oops"),
    (dict(stages=[Stage("build", 1.0)]), "Production"),
    (dict(stages=[Stage("a", 1, per="batch"), Stage("b", 1), Production()]), "per-change"),
])
def test_bad_pipelines_are_refused_when_built_naming_the_culprit(arguments, culprit):
    world = world_with_service()
    arguments = {"service": "app", "commits": sl.Poisson(rate=0.1), "duration": DAY,
                 **arguments}
    with pytest.raises(sl.ModelError, match=culprit):
        world.pipeline(**arguments)


def test_bad_rates_stages_and_schedules_are_refused():
    with pytest.raises(sl.ModelError, match="rate"):
        sl.Poisson(rate=-0.1)
    with pytest.raises(sl.ModelError, match="every"):
        sl.Schedule(every=0)
    with pytest.raises(sl.ModelError, match="catches"):
        Stage("unit", 1.0, {"errors": 2})
    with pytest.raises(sl.ModelError, match="unknown defect kind"):
        Stage("unit", 1.0, {"typo": 0.5})
    world = world_with_service()
    world.pipeline("app", commits=sl.Poisson(rate=0.1), duration=DAY)
    with pytest.raises(sl.ModelError, match="already has a pipeline"):
        world.pipeline("app", commits=sl.Poisson(rate=0.1), duration=DAY)


def test_a_pipeline_refuses_a_strategy_that_is_not_one():
    world = sl.World(seed=1)
    world.service("orders")
    with pytest.raises(sl.ModelError, match=r"pipeline of 'orders'.*strategy.*sl.Canary"):
        world.pipeline("orders", commits=sl.Poisson(rate=0.1), duration=100, strategy="canary")


@pytest.mark.parametrize("make, message", [
    (lambda: sl.Schedule(every=0), "Schedule: every must be a positive number of minutes"),
    (lambda: Stage("unit", -1), "Stage 'unit': duration must be a non-negative number of "
     "minutes"),
    (lambda: Stage("unit", "6"), "a number of minutes"),
    (lambda: sl.Poisson(rate=0), "changes per minute for a pipeline's commits"),
    (lambda: world_with_service().pipeline("app", commits=sl.Poisson(rate=0.1), duration=-1),
     "duration must be a positive number of minutes"),
    (lambda: world_with_service().pipeline("app", commits=sl.Poisson(rate=0.1), duration=DAY,
                                           start=-5), "start must be a non-negative number of "
     "minutes"),
])
def test_the_delivery_side_refuses_bad_times_in_minutes_and_rates_in_changes(make, message):
    with pytest.raises(sl.ModelError, match=message):
        make()


def test_the_request_side_still_speaks_of_seconds():
    with pytest.raises(sl.ModelError, match="Exp: mean must be a positive number of seconds"):
        sl.Exp(mean=0)
    with pytest.raises(sl.ModelError, match="requests per second for a load"):
        sl.Poisson(rate=-1)


def test_the_dora_function_is_reachable_beside_its_module():
    import simlab.delivery.dora as module

    assert sl.delivery.dora is module and sl.delivery.dora_metrics is module.dora_metrics
    result = pipeline_world(duration=DAY).run()
    pd.testing.assert_frame_equal(sl.delivery.dora_metrics(result), result.dora())
    with pytest.raises(sl.ModelError, match="window must be a .* pair of non-negative numbers "
                       "of minutes"):
        result.dora(window=(5, 1))
