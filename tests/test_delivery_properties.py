"""Nothing lost on the delivery side, and traces that add up, on random designs.

Hypothesis draws a release (batching, runners, strategy, defect rate, flaky tests and
re-runs, remediation, traffic) and checks the ledgers every drained run must keep: each
change ends in one outcome with consistent times, each stage run and deployment has
ended, every incident is closed, and the DORA shares are shares. A second property
draws random service models (``tests/random_models.py``) and checks that each trace's
critical path accounts for exactly its root span's duration.
"""

import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import random_models
import simlab as sl
from checks import examples
from simlab.scenarios.release import BATCHING, STRATEGIES, release

ENDED = {"live", "caught", "rolled_back"}


@examples(12)
@given(seed=st.integers(1, 10**6), batching=st.sampled_from(sorted(BATCHING)),
       strategy=st.sampled_from(sorted(STRATEGIES)), runners=st.integers(1, 3),
       defect_rate=st.floats(0.0, 0.5), flaky=st.floats(0.0, 0.3), reruns=st.integers(0, 2),
       remediation=st.sampled_from(["rollback", "hotfix"]), traffic=st.sampled_from([0.5, 3.0]))
def test_every_change_stage_run_and_deployment_of_a_drained_run_ends(
        seed, batching, strategy, runners, defect_rate, flaky, reruns, remediation, traffic):
    result = release(batching=batching, strategy=strategy, runners=runners,
                     defect_rate=defect_rate, flaky=flaky, reruns=reruns,
                     remediation=remediation, traffic=traffic, commit_rate=0.02,
                     duration=sl.delivery.DAY / 2, seed=seed).run()
    changes = result.changes
    assert changes.change_id.is_unique and set(changes.outcome) <= ENDED, \
        changes.outcome.value_counts()
    live = changes[changes.outcome == "live"]
    assert (live.live >= live.commit).all() and (live.lead_time >= 0).all()
    never = changes[changes.live.isna()]
    assert never.outcome.isin(["caught", "rolled_back"]).all()
    assert (changes.left >= changes.commit).all()
    caught = changes[changes.outcome == "caught"]
    assert caught.defective.all() and (caught.caught != "").all()
    runs = result.pipeline_runs
    assert (runs.end >= runs.start).all() and np.allclose(runs.start - runs.requested, runs.wait)
    deployments = result.deployments
    assert set(deployments.outcome) <= {"succeeded", "rolled_back"}
    assert (deployments.end >= deployments.start).all()
    assert deployments.deployment_id.is_unique
    incidents = result.incidents
    assert incidents.resolved.notna().all() or (incidents.remediation == "").any()
    dora = result.dora().value
    for share in ("change_fail_rate", "rework_rate", "slo_attainment"):
        assert math.isnan(dora[share]) or 0 <= dora[share] <= 1, (share, dora[share])


@pytest.mark.filterwarnings("ignore::simlab.SimlabWarning")  # faults drawn past the end
@examples(15)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_critical_path_accounts_for_its_root_span_exactly(seed):
    plan = random_models.plan(random.Random(seed))
    result = random_models.build(plan).run()
    spans = result.spans
    roots = spans[(spans.parent_id == "") & spans.end.notna()]
    for trace_id, duration in zip(roots.trace_id[:20], roots.duration[:20]):
        path = sl.traces.critical_path(result, trace_id)
        assert math.isclose(path.on_path.sum(), duration, rel_tol=1e-9, abs_tol=1e-9), plan
        assert (path.on_path >= -1e-12).all()
    own = sl.traces.self_time(result).dropna(subset=["self_time"])
    assert (own.self_time >= -1e-9).all() and (own.self_time <= own.duration + 1e-9).all()
