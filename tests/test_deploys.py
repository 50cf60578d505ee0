"""Deployments on live services: versions and their defects, the four strategies, the
canary analysis, alerts and incidents, and the tables they write.

Each strategy is checked where its behaviour is exact (a canary's promotion and
rollback times, a recreate's downtime, blue-green's none) and, where it is random,
within sampling error (the share of traffic at a canary weight, the blast radius).
"""

import math

import numpy as np
import pandas as pd
import pytest

import simlab as sl
from simlab.components import Component

RATE = 100.0  # requests per second


def api_world(seed=1, rate=RATE, duration=60.0, workers=4, work=None, error_rate=0.0):
    """One service, one endpoint, Poisson load."""
    world = sl.World(seed=seed)
    api = world.service("api", workers=workers, work=work if work is not None else
                        sl.Exp(mean=0.01), error_rate=error_rate)

    @api.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()
        ctx.log("served")

    world.load(sl.Poisson(rate=rate), target=("api", "get"), duration=duration)
    return world


def served_by(result, version, start=-math.inf, end=math.inf):
    spans = result.spans[(result.spans.kind == "server") & (result.spans.start >= start)
                         & (result.spans.start < end)]
    return (spans.version == version).sum(), len(spans)


# -- versions and defects

def test_a_clean_promotion_goes_back_to_one_version_on_every_span_and_log_line():
    world = api_world(duration=30)
    world.deploy("api", "2.0", at=10, strategy=sl.Recreate(downtime=0))
    result = world.run()
    spans, logs = result.spans, result.logs
    assert set(spans.version[spans.start < 10]) == {"1.0"}
    assert set(spans.version[spans.start >= 10]) == {"2.0"}
    # A log line carries the version of its span; a system line has none.
    request_logs = logs[logs.trace_id != ""]
    merged = request_logs.merge(spans[["span_id", "version"]], on="span_id", suffixes=("", "_s"))
    assert len(merged) == len(request_logs) > 0
    assert (merged.version == merged.version_s).all()
    assert set(logs.version[logs.trace_id == ""]) == {""}
    assert result.deployments.outcome.tolist() == ["succeeded"]


def test_a_slow_defect_multiplies_the_work_time_of_its_version_only():
    world = api_world(duration=20, workers=None, work=0.01)
    world.deploy("api", "2.0", at=10, strategy=sl.Recreate(downtime=0),
                 defect=sl.Defect("slow", factor=3))
    spans = world.run().spans
    old, new = spans[spans.version == "1.0"], spans[spans.version == "2.0"]
    assert np.allclose(old.duration, 0.01) and np.allclose(new.duration, 0.03)


def test_errors_and_broken_defects_fail_their_share_within_sampling_error():
    world = api_world(duration=40, workers=None, work=0.001)
    world.deploy("api", "2.0", at=0, strategy=sl.Recreate(downtime=0),
                 defect=[sl.Defect("errors", rate=0.2), sl.Defect("broken", share=0.5)])
    spans = world.run().spans
    spans = spans[spans.version == "2.0"]
    n = len(spans)
    broken = spans.duration == 0  # failed before the handler ran
    assert abs(broken.mean() - 0.5) < 3.3 * math.sqrt(0.25 / n)
    after_work = spans[~broken]
    p, m = 0.2, len(after_work)
    assert abs((after_work.status == "error").mean() - p) < 3.3 * math.sqrt(p * (1 - p) / m)


# -- strategies: what theory says exactly

@pytest.mark.parametrize("interval, step, top", [(5.0, 0.25, 1.0), (4.0, 0.1, 0.5)])
def test_a_healthy_canary_promotes_after_interval_times_its_number_of_steps(interval, step, top):
    world = api_world(duration=60)
    canary = sl.Canary(step=step, max_weight=top, interval=interval, min_requests=1)
    world.deploy("api", "2.0", at=5, strategy=canary)
    result = world.run()
    row = result.deployments.iloc[0]
    assert row.outcome == "succeeded"
    assert row.end - row.start == pytest.approx(interval * top / step)
    assert (result.canary_checks.verdict == "pass").all()
    weights = result.traffic[result.traffic.version == "2.0"].weight.tolist()
    expected = [step * k for k in range(1, round(top / step) + 1)]
    expected += [1.0] if top < 1 else []  # promoted
    assert weights == pytest.approx(expected)


@pytest.mark.parametrize("failure_limit", [1, 3])
def test_a_canary_that_fails_every_check_rolls_back_after_interval_times_failure_limit(
        failure_limit):
    world = api_world(duration=60)
    world.deploy("api", "2.0", at=5, defect=sl.Defect("broken", share=1.0),
                 strategy=sl.Canary(steps=(0.2, 0.5, 1.0), interval=6.0,
                                    failure_limit=failure_limit, min_requests=1))
    result = world.run()
    row = result.deployments.iloc[0]
    assert row.outcome == "rolled_back"
    assert row.end - row.start == pytest.approx(6.0 * failure_limit)
    assert result.canary_checks.verdict.tolist() == ["fail"] * failure_limit
    incident = result.incidents.iloc[0]
    assert (incident.detected_by, incident.remediation, incident.version) == \
        ("canary", "rollback", "2.0")
    assert incident.resolved == row.end
    # After the rollback, only the old version serves.
    assert set(result.spans.version[result.spans.start >= row.end]) == {"1.0"}


def test_blue_green_has_no_downtime_and_recreate_exactly_its_downtime():
    green = api_world(duration=30)
    green.deploy("api", "2.0", at=10, strategy=sl.BlueGreen(ready_after=3, scale_down_after=5))
    result = green.run()
    assert (result.requests.outcome == "ok").all()
    assert result.deployments.end.iloc[0] == 18.0
    switch = result.spans[result.spans.version == "2.0"].start.min()
    assert 13.0 <= switch < 13.1

    recreate = api_world(duration=30)
    recreate.deploy("api", "2.0", at=10, strategy=sl.Recreate(downtime=3))
    requests = recreate.run().requests
    rejected = requests[requests.outcome == "rejected"]
    assert (rejected.start >= 10).all() and (rejected.start < 13).all()
    inside = requests[(requests.start >= 10) & (requests.start < 13)]
    assert (inside.outcome == "rejected").all()  # every request of the downtime, no other
    assert set(requests.outcome[requests.start >= 13]) == {"ok"}
    # Poisson arrivals: about RATE x downtime of them.
    assert abs(len(rejected) - RATE * 3) < 3.3 * math.sqrt(RATE * 3)


def test_rolling_moves_the_weight_one_instance_at_a_time_and_max_unavailable_costs_workers():
    world = api_world(duration=40, workers=4)
    world.deploy("api", "2.0", at=5, strategy=sl.Rolling(instances=4, max_surge=1,
                                                          ready_after=2))
    result = world.run()
    weights = result.traffic[result.traffic.version == "2.0"].weight.tolist()
    assert weights == [0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0]
    assert result.deployments.end.iloc[0] == 5 + 4 * 2

    # max_unavailable=1, no surge: one of the four single-worker instances is out during
    # each step, so at most 3 requests are served at once; 4 otherwise. (Each step
    # starts as the previous one ends: the instance leaving then finishes its request,
    # which takes up to 0.5 s, while the one just ready takes another.)
    def most_busy(strategy):
        world = sl.World(seed=2, sample_every=0.05)
        api = world.service("api", workers=4, work=0.5)

        @api.endpoint("get")
        def get(ctx, payload):
            yield ctx.work()

        world.load(sl.Poisson(rate=40), target=("api", "get"), duration=20)
        world.deploy("api", "2.0", at=5, strategy=strategy)
        queues = world.run().queues
        queues = queues[queues.service == "api"]
        into_step = (queues.time - 5) % 2
        during = queues[(queues.time > 5) & (queues.time < 13) & (into_step > 0.55)
                        & (into_step < 1.95)]
        return during.busy.max()

    assert most_busy(sl.Rolling(instances=4, max_surge=0, max_unavailable=1,
                                ready_after=2)) == 3
    assert most_busy(sl.Rolling(instances=4, max_surge=1, max_unavailable=0,
                                ready_after=2)) == 4


# -- what is random: within sampling error

def test_at_canary_weight_w_the_new_version_serves_a_share_w_of_the_requests():
    w = 0.3
    world = api_world(duration=60)
    world.deploy("api", "2.0", at=0, strategy=sl.Canary(steps=(w, 1.0), interval=100))
    result = world.run()
    new, total = served_by(result, "2.0")
    # 99.9 % binomial interval around w.
    assert abs(new / total - w) < 3.3 * math.sqrt(w * (1 - w) / total)


def blast_radius(strategy, seed):
    """Share of all requests served by a bad version before it was rolled back."""
    world = api_world(seed=seed, duration=60)
    world.deploy("api", "2.0", at=10, strategy=strategy, defect=sl.Defect("errors", rate=0.5))
    world.alert("api", sl.BurnRateAlert(slo=0.99, window=5, burn_rate=10, every=1))
    result = world.run()
    assert "2.0" not in set(result.spans.version[result.spans.start > 40])  # rolled back
    new, total = served_by(result, "2.0")
    return new / total


def test_a_canary_exposes_fewer_requests_to_a_bad_version_than_all_at_once():
    canary = sl.Canary(steps=(0.05, 0.25, 0.5, 1.0), interval=10, failure_limit=1)
    seeds = range(1, 6)
    small = [blast_radius(canary, seed) for seed in seeds]
    large = [blast_radius(sl.Recreate(downtime=0), seed) for seed in seeds]
    (low_mean, low_half), (high_mean, high_half) = sl.mean_ci(small), sl.mean_ci(large)
    assert low_mean + low_half < high_mean - high_half


@pytest.mark.parametrize("inconclusive, defect, outcome", [
    ("pass", sl.Defect("broken", share=1.0), "succeeded"),  # a false promotion
    ("fail", None, "rolled_back"),                          # a false rollback
])
def test_too_few_requests_make_every_check_inconclusive_and_the_canary_decides_blind(
        inconclusive, defect, outcome):
    world = api_world(rate=2.0, duration=60)
    world.deploy("api", "2.0", at=5, defect=defect,
                 strategy=sl.Canary(steps=(0.05, 0.5), interval=5, min_requests=20,
                                    failure_limit=2, inconclusive=inconclusive))
    result = world.run()
    assert (result.canary_checks.verdict == "inconclusive").all()
    assert (result.canary_checks.requests < 20).all()
    assert result.deployments.outcome.tolist() == [outcome]


def test_same_seed_same_tables():
    def run():
        world = api_world(seed=4, duration=40)
        world.deploy("api", "2.0", at=5, strategy=sl.Canary(step=0.2, interval=4),
                     defect=sl.Defect("errors", rate=0.05))
        world.alert("api", sl.BurnRateAlert(window=10, burn_rate=3))
        return world.run()

    one, other = run(), run()
    for table in ("spans", "requests", "deployments", "incidents", "traffic",
                  "canary_checks", "logs"):
        pd.testing.assert_frame_equal(getattr(one, table), getattr(other, table))


# -- incidents: alerts and their remediation

def test_an_alert_rolls_back_a_promoted_bad_version_with_an_unplanned_deployment():
    world = api_world(duration=60)
    world.deploy("api", "2.0", at=10, strategy=sl.BlueGreen(ready_after=1, scale_down_after=2),
                 defect=sl.Defect("errors", rate=0.4))
    world.alert("api", sl.BurnRateAlert(slo=0.99, window=5, burn_rate=10, every=1))
    result = world.run()
    deployments, incident = result.deployments, result.incidents.iloc[0]
    assert deployments.outcome.tolist() == ["succeeded", "succeeded"]
    rollback = deployments.iloc[1]
    assert (rollback.strategy, rollback.version, rollback.previous, rollback.unplanned) == \
        ("rollback", "1.0", "2.0", True)
    assert (incident.detected_by, incident.version, incident.remediation) == \
        ("alert", "2.0", "rollback")
    assert 11 < incident.opened < 16
    # Blue is gone after 2 s: the rollback starts it again, ready_after later.
    assert rollback.end == incident.resolved == incident.opened + 1
    assert set(result.spans.version[result.spans.start >= rollback.end]) == {"1.0"}


def test_an_alert_during_a_rollout_stops_it_and_rolls_it_back():
    world = api_world(duration=60)
    world.deploy("api", "2.0", at=10, strategy=sl.Rolling(instances=4, ready_after=5),
                 defect=sl.Defect("errors", rate=0.8))
    world.alert("api", sl.BurnRateAlert(slo=0.99, window=5, burn_rate=10, every=1))
    result = world.run()
    deployment, incident = result.deployments.iloc[0], result.incidents.iloc[0]
    assert deployment.outcome == "rolled_back" and len(result.deployments) == 1
    assert (incident.detected_by, incident.remediation) == ("alert", "rollback")
    assert 15 < incident.opened < 20  # in the first step the new version gets a quarter
    # Rolling back the one new instance takes a step: ready_after.
    assert deployment.end == incident.resolved == incident.opened + 5
    assert result.traffic.weight[result.traffic.version == "2.0"].iloc[-1] == 0
    assert set(result.spans.version[result.spans.start >= deployment.end]) == {"1.0"}


def test_a_hotfix_is_a_new_unplanned_version_with_the_good_content():
    world = api_world(duration=60)
    world.deploy("api", "2.0", at=10, strategy=sl.Recreate(downtime=0),
                 defect=sl.Defect("errors", rate=0.4))
    world.alert("api", sl.BurnRateAlert(window=5, burn_rate=10, every=1))
    world.remediation("hotfix", after=8)
    result = world.run()
    fix = result.deployments.iloc[1]
    incident = result.incidents.iloc[0]
    assert (fix.version, fix.unplanned, fix.outcome) == ("2.0-hotfix", True, "succeeded")
    assert fix.start == incident.opened + 8 and incident.resolved == fix.end
    later = result.spans[result.spans.start >= fix.end]
    assert set(later.version) == {"2.0-hotfix"} and (later.status == "ok").all()


@pytest.mark.parametrize("how", ["rollback", "hotfix"])
def test_a_remediation_undoes_the_version_of_its_incident_even_after_a_newer_one(how):
    # 2.0 is bad; the alert fires within a few seconds, the response comes 10 s later,
    # and meanwhile 3.0 (a clean one) was promoted on top of it.
    world = api_world(duration=60)
    instant = sl.Recreate(downtime=0)
    world.deploy("api", "2.0", at=10, strategy=instant, defect=sl.Defect("errors", rate=0.5))
    world.deploy("api", "3.0", at=18, strategy=instant)
    world.alert("api", sl.BurnRateAlert(window=5, burn_rate=10, every=1))
    world.remediation(how, after=10)
    result = world.run()
    incident = result.incidents.iloc[0]
    assert incident.version == "2.0" and incident.opened < 18
    remedy = result.deployments.iloc[-1]
    assert remedy.unplanned and remedy.outcome == "succeeded"
    assert remedy.version == ("1.0" if how == "rollback" else "2.0-hotfix")


def test_an_alert_on_a_service_with_nothing_to_undo_ends_when_it_clears():
    world = api_world(duration=60)
    world.faults.errors("api", at=10, duration=5, probability=0.5)
    world.alert("api", sl.BurnRateAlert(window=5, burn_rate=10, every=1))
    incidents = world.run().incidents
    assert len(incidents) == 1 and incidents.remediation.iloc[0] == ""
    assert 15 < incidents.resolved.iloc[0] <= 21


@pytest.mark.parametrize("min_requests, fires", [(30, False), (5, True)])
def test_at_low_traffic_an_alert_waits_for_min_requests_in_its_window(min_requests, fires):
    """Two requests a second, a 5 s window: about 10 requests in it (never 30), and every
    one of them fails. Fewer than ``min_requests`` in the window: no alert, however bad."""
    world = api_world(rate=2, duration=120, error_rate=1.0)
    world.alert("api", sl.BurnRateAlert(window=5, burn_rate=10, every=1,
                                        min_requests=min_requests))
    result = world.run()
    alerts = result.logs[result.logs.message.str.startswith("alert:")]
    assert (len(result.incidents) > 0) == fires and (len(alerts) > 0) == fires
    counted = alerts.message.str.extract(r"of (\d+) failed").astype(int)[0]
    assert (counted >= min_requests).all()


def test_a_pipeline_deploys_through_the_deployer_and_its_canary_catches_the_defects():
    world = api_world(rate=50, duration=300)
    # (Fixes of rolled-back changes come 5 s later: while the load still runs, so that
    # the canary has requests to judge them by.)
    world.pipeline("api", commits=sl.Poisson(rate=0.05), defect_rate=0.5, duration=250,
                   stages=[sl.delivery.Stage("build", 1.0), sl.delivery.Production()],
                   strategy=sl.Canary(steps=(0.2, 1.0), interval=5, failure_limit=1,
                                      max_p99=0.1), fix_time=5)
    result = world.run()
    changes, deployments = result.changes, result.deployments
    defective = set(changes.version[changes.defective])
    assert len(deployments) > 5 and defective
    for row in deployments.itertuples():
        assert row.strategy == "canary" and not row.unplanned
        assert row.outcome == ("rolled_back" if row.version in defective else "succeeded")
        assert row.changes == (changes.version == row.version).sum()
    assert set(result.incidents.detected_by) == {"canary"}
    assert len(result.incidents) == (deployments.outcome == "rolled_back").sum()


def test_a_deployer_only_where_the_world_deploys_with_a_strategy():
    seen = []

    def look(handles):
        seen.append(handles.deployer)
        return Component()

    plain = api_world(duration=1)
    plain.add_component(look)
    plain.run()
    alerted = api_world(duration=1)
    alerted.alert("api", sl.BurnRateAlert())
    alerted.add_component(look)
    alerted.run()
    assert seen[0] is None and seen[1] is not None


# -- figures

def test_the_canary_figure_draws_each_version_and_each_verdict_and_marks_deployments():
    world = api_world(duration=40)
    world.deploy("api", "2.0", at=5, defect=sl.Defect("errors", rate=0.5),
                 strategy=sl.Canary(steps=(0.1, 0.5, 1.0), interval=5, failure_limit=2))
    result = world.run()
    ax = sl.plot.canary(result, "api")
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["version 1.0", "version 2.0", "check: fail"]
    new = ax.get_lines()[1]
    assert max(new.get_ydata()) == pytest.approx(10)  # never past its first step
    assert [t.get_text() for t in ax.texts] == [" 2.0"]
    over_time = sl.plot.latency_over_time(result)
    assert [t.get_text() for t in over_time.texts] == [" api 2.0"]
    assert not sl.plot.latency_over_time(result, deployments=False).texts


# -- bad input

@pytest.mark.parametrize("make, culprit", [
    (lambda: sl.Canary(steps=(0.5, 1.5)), "steps"),
    (lambda: sl.Canary(steps=(0.5, 0.25, 1.0)), "increase"),
    (lambda: sl.Canary(step=-0.1), "step"),
    (lambda: sl.Canary(interval=-1), "interval"),
    (lambda: sl.Recreate(downtime=-1), "downtime"),
    (lambda: sl.Rolling(ready_after=-2), "ready_after"),
    (lambda: sl.Rolling(max_surge=0, max_unavailable=0), "max_surge"),
    (lambda: sl.BlueGreen(scale_down_after=math.nan), "scale_down_after"),
    (lambda: sl.Defect("errors", rate=1.5), "rate"),
    (lambda: sl.Defect("slow", rate=0.1), "factor"),
    (lambda: sl.Defect("typo", rate=0.1), "kind"),
    (lambda: sl.BurnRateAlert(slo=1.0), "slo"),
])
def test_bad_settings_are_refused_when_made(make, culprit):
    with pytest.raises(sl.ModelError, match=culprit):
        make()


def test_bad_deployments_are_refused_when_the_model_is_built():
    world = api_world(workers=6)
    with pytest.raises(sl.ModelError, match="unknown service 'nope'"):
        world.deploy("nope", "2.0", at=1)
    with pytest.raises(sl.ModelError, match="at"):
        world.deploy("api", "2.0", at=-1)
    with pytest.raises(sl.ModelError, match="strategy"):
        world.deploy("api", "2.0", at=1, strategy="canary")
    with pytest.raises(sl.ModelError, match="multiple of instances"):
        world.deploy("api", "2.0", at=1, strategy=sl.Rolling(instances=4))
    with pytest.raises(sl.ModelError, match="defect"):
        world.deploy("api", "2.0", at=1, defect="typo")
    with pytest.raises(sl.ModelError, match="unknown service"):
        world.alert("nope", sl.BurnRateAlert())


def test_every_time_plot_of_the_services_marks_the_deployments():
    world = api_world(duration=30)
    world.deploy("api", "2.0", at=10, strategy=sl.Canary(step=0.5, interval=5))
    result = world.run()
    drawn = {"latency_over_time": sl.plot.latency_over_time(result),
             "queues": sl.plot.queues(result), "lag_over_time": sl.plot.lag_over_time(result),
             "red": sl.plot.red(result, "api")[0]}
    for name, ax in drawn.items():
        assert any("api 2.0" in text.get_text() for text in ax.texts), name
    quiet = sl.plot.latency_over_time(result, deployments=False)
    assert not any("2.0" in text.get_text() for text in quiet.texts)
