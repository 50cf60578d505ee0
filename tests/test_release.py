"""The release scenario (lesson 07): its ledgers, its determinism, and the lesson's claims
within sampling error across seeds."""

import math
import statistics

import pandas as pd
import pytest

import simlab as sl
from simlab.delivery.dora import deployment_fates
from simlab.experiments import t95
from simlab.scenarios.release import (BATCHING, DEPLOY_AT, STRATEGIES, blast_radius, one_release,
                                     release, runner_use)

SHORT = 2 * sl.delivery.DAY   # minutes of commits in these tests


@pytest.fixture(scope="module")
def continuous():
    return release(duration=SHORT, traffic=2, seed=11).run()


def test_every_change_ends_live_caught_or_rolled_back_and_every_deployment_has_an_outcome(
        continuous):
    changes = continuous.changes
    assert len(changes) > 40
    # The run drains: nothing is left in the pipeline.
    assert set(changes.outcome) <= {"live", "caught", "rolled_back"}
    assert changes.live.notna().eq(changes.outcome == "live").all()
    assert (changes.caught != "").eq(changes.outcome == "caught").all()
    assert not changes[changes.outcome == "caught"].defective.eq(False).any()
    # A rolled-back change carried a defect, and its fix followed as a new change; the
    # innocent changes of its version went again.
    rolled_back = changes[changes.outcome == "rolled_back"]
    assert rolled_back.defective.all()
    assert sorted(changes.resubmits[changes.resubmits > 0]) == sorted(rolled_back.change_id)
    deployments = continuous.deployments
    assert set(deployments.outcome) <= {"succeeded", "rolled_back"}
    assert deployments.end.ge(deployments.start).all()
    # Every version the pipeline shipped is a deployment of orders, and back.
    shipped = set(changes.version) - {""}
    assert shipped <= set(deployments.version)
    incidents = continuous.incidents
    assert incidents.resolved.notna().all() and (incidents.resolved >= incidents.opened).all()


def test_same_seed_same_tables_another_seed_other_changes():
    def tables(seed):
        result = release(duration=sl.delivery.DAY / 2, traffic=1, seed=seed).run()
        return result.changes, result.deployments, result.requests

    for one, two in zip(tables(5), tables(5)):
        pd.testing.assert_frame_equal(one, two)
    assert not tables(6)[0].commit.equals(tables(5)[0].commit)


def test_names_and_objects_are_both_accepted_and_bad_ones_are_refused():
    release(batching=sl.Schedule(every=120), strategy=sl.Canary(step=0.5, interval=3),
            duration=60)
    for name in STRATEGIES:
        release(strategy=name, duration=60)
    for name in BATCHING:
        release(batching=name, duration=60)
    with pytest.raises(sl.ModelError, match="strategy must be one of"):
        release(strategy="canery")
    with pytest.raises(sl.ModelError, match="batching must be one of"):
        release(batching="weekly")
    with pytest.raises(sl.ModelError, match="traffic"):
        release(traffic=-1)
    with pytest.raises(sl.ModelError, match="remediation"):
        release(remediation="pray")


def interval(values):
    values = list(values)
    return statistics.fmean(values), t95(len(values) - 1) * statistics.stdev(values) \
        / math.sqrt(len(values))


def failed_deployments(result):
    """(failed, finished) deployments of a new version, as result.dora() counts them."""
    fates = deployment_fates(result)
    finished = fates[fates.outcome != "in_progress"]
    return int(finished.failed.sum()), len(finished)


def test_small_continuous_batches_have_lower_lead_time_and_change_fail_rate_than_nightly():
    # A high defect rate, so that two seeds' few nightly deployments are enough evidence.
    leads, fails = {}, {}
    for batching in ("continuous", "nightly"):
        results = [release(batching=batching, defect_rate=0.3, duration=3 * sl.delivery.DAY,
                           traffic=2, seed=seed).run() for seed in (21, 22)]
        leads[batching] = [result.changes.lead_time.median() for result in results]
        counts = [failed_deployments(result) for result in results]
        fails[batching] = (sum(c[0] for c in counts), sum(c[1] for c in counts))
    assert max(leads["continuous"]) * 3 < min(leads["nightly"]), leads
    # Two proportions: the difference is more than 3 standard errors.
    (small_failed, small), (large_failed, large) = fails["continuous"], fails["nightly"]
    pooled = (small_failed + large_failed) / (small + large)
    error = math.sqrt(pooled * (1 - pooled) * (1 / small + 1 / large))
    assert large_failed / large - small_failed / small > 3 * error, fails
    # Small batches: about the defect rate times the escape rate; large: a good share of
    # them (the trains' own; after a rollback the innocent changes of a train go again at
    # once, as a batch without the culprit, and that deployment is rarely bad).
    assert small_failed / small < 0.15 and large_failed / large >= 0.4, fails


def test_lead_time_rises_steeply_as_runner_utilisation_nears_one():
    def measure(rate):
        result = release(runners=1, commit_rate=rate, traffic=0, duration=5 * sl.delivery.DAY,
                         seed=31).run()
        return runner_use(result), result.dora().value.lead_time_p50

    (low_use, low_lead), (high_use, high_lead) = measure(0.01), measure(0.03)
    assert low_use < 0.5 and high_use > 0.9
    # Less than three times the load, many times the lead time.
    assert high_lead > 5 * low_lead


def test_a_canary_reaches_fewer_customers_than_a_big_bang_with_the_same_bad_version():
    served = {"canary": [], "big-bang": []}
    for seed in range(41, 46):
        for strategy in served:
            radius = blast_radius(one_release(strategy, seed=seed).run())
            assert radius["detected"] == radius["detected"], f"{strategy}: never detected"
            served[strategy].append(radius["served"])
    canary, canary_half = interval(served["canary"])
    big_bang, big_bang_half = interval(served["big-bang"])
    assert canary + canary_half < big_bang - big_bang_half, served


def test_a_request_still_in_flight_when_the_run_stops_is_served_not_failed():
    # A version 2000 times slower holds its requests past the stop, 5 minutes in.
    slow = one_release("big-bang", defect=sl.Defect("slow", factor=2000), traffic=20, seed=2)
    result = slow.run(until=DEPLOY_AT + 5)
    spans = result.spans
    mine = spans[(spans.service == "orders") & (spans.kind == "server") &
                 (spans.version == "2.0")]
    radius = blast_radius(result)
    assert (mine.status == "in_flight").sum() > 0
    assert radius["served"] == len(mine)
    assert radius["failed"] == mine.status.isin(["error", "timeout", "rejected"]).sum()


def test_a_good_version_is_promoted_by_every_strategy_and_reaches_everyone():
    for strategy in STRATEGIES:
        result = one_release(strategy, defect=None, seed=3).run()
        deployment = result.deployments.iloc[0]
        assert deployment.outcome == "succeeded" and len(result.incidents) == 0, strategy
        traffic = result.traffic[result.traffic.version == "2.0"]
        assert traffic.weight.iloc[-1] == 1.0, strategy


def test_the_pipeline_figures_draw_every_change_and_count_the_runner_queue(continuous):
    ax = sl.plot.pipeline_timeline(continuous, window=(0, sl.delivery.DAY / 2))
    committed = continuous.changes[continuous.changes.commit < sl.delivery.DAY / 2]
    assert ax.get_ylim() == (len(committed), -1)          # one row per change, first on top
    fates = {text.get_text() for text in ax.get_legend().get_texts()}
    assert {"build", "unit", "integration", "staging", "production", "live", "caught"} <= fates
    queue = sl.plot.runner_queue(continuous)
    waiting = queue.lines[0].get_ydata()
    runs = continuous.pipeline_runs
    assert max(waiting) >= 1 and min(waiting) == 0
    assert max(waiting) <= len(runs)
    # The count of runs on a runner never exceeds the runners.
    running = queue.collections[0].get_paths()[0].vertices[:, 1]
    assert running.max() <= continuous.world.pipelines[0].runners


def test_a_hotfix_goes_through_the_pipeline_so_it_recovers_slower_than_a_rollback():
    recovery = {}
    for remediation in ("rollback", "hotfix"):
        results = [release(remediation=remediation, strategy="big-bang", defect_rate=0.4,
                           duration=sl.delivery.DAY, traffic=2, seed=seed).run()
                   for seed in (1, 2)]
        incidents = pd.concat([result.incidents for result in results])
        # (An alert on a version that was never deployed has nothing to undo: a false
        # alarm of the sparse traffic, which ends when the alert clears.)
        incidents = incidents[incidents.version != "1.0"]
        assert len(incidents) >= 3 and set(incidents.remediation) == {remediation}
        assert incidents.resolved.notna().all()
        recovery[remediation] = (incidents.resolved - incidents.opened).tolist()
        if remediation == "hotfix":
            for result in results:
                fixes = result.deployments[result.deployments.unplanned]
                fixed = result.incidents[result.incidents.remediation == "hotfix"]
                assert sorted(fixes.version) == sorted(f"{v}-hotfix" for v in fixed.version)
                assert (fixes.outcome == "succeeded").all()
                # Each hotfix is an unplanned change that went live in its version, after
                # its own runs of every stage on the pipeline's runners.
                hotfixes = result.changes[result.changes.unplanned]
                assert sorted(hotfixes.version) == sorted(fixes.version)
                assert (hotfixes.outcome == "live").all() and not hotfixes.defective.any()
                runs = result.pipeline_runs
                mine = runs[runs.change_id.isin(hotfixes.change_id)
                            | runs.batch.isin(hotfixes.batch)]
                assert set(mine.stage) == {"build", "unit", "integration", "staging",
                                           "production"}
                assert set(mine.version) - {""} == set(fixes.version)
                lead = result.dora().note.lead_time_p50
                assert f"{len(hotfixes)} of them hotfixes (included)" in lead
    # A rollback is one deployment; a hotfix first waits for runners and runs every test
    # stage (build, unit, integration, staging: medians 4 + 6 + 15 + 12 minutes).
    assert max(recovery["rollback"]) < 15 < min(recovery["hotfix"]), recovery
    assert statistics.median(recovery["hotfix"]) > 30


def test_an_alert_blames_only_versions_that_carry_a_defect():
    # After a rollback the bad version's failures are still in the alert's window; they
    # must not be blamed on the clean version that replaced it. Nor must the requests
    # turned away in a recreate's planned downtime roll a good version back.
    for seed in (1, 2):
        result = release(seed=seed, strategy="big-bang", traffic=3).run()
        changes = result.changes
        defective = set(changes.version[changes.defect != ""])
        assert len(result.incidents) and set(result.incidents.version) <= defective, seed
    result = one_release(sl.Recreate(downtime=5), defect=None, traffic=20).run()
    assert result.deployments.outcome.tolist() == ["succeeded"] and not len(result.incidents)
