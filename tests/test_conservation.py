"""Conservation laws over random models under random faults (see ``random_models``).

Hypothesis draws the seed of each model: the ci profile tries the same models every
time, the deep profile fresh ones. A failure names the laws broken and the plan drawn;
``random_models.plan(random.Random(seed))`` rebuilds it. For many more models, run
``tests/soak/conservation.py``.
"""

import random
import warnings

import pytest
from checks import check_no_work_outlives_a_crash, examples
from hypothesis import given
from hypothesis import strategies as st

import random_models
import simlab as sl


@pytest.mark.filterwarnings("ignore::simlab.SimlabWarning")  # faults past the stop or load
@examples(40)
@given(seed=st.integers(0, 2**32 - 1))
def test_conservation_laws_hold_in_random_models_under_random_faults(seed):
    plan = random_models.plan(random.Random(seed))
    result = random_models.build(plan).run(until=plan["until"])
    assert random_models.violations(result, plan) == [], plan
    check_no_work_outlives_a_crash(result)  # a crash stops its service's work at once


def test_the_random_models_reach_every_kind_of_ending():
    """The laws would be weak if the random models never got into trouble: forty of
    them show every outcome, every message state, losses the design allows, and every
    kind of fault."""
    seen = {"outcomes": set(), "states": set(), "faults": set(), "lost": 0, "refused": 0,
            "outboxes": 0}
    for seed in range(40):
        plan = random_models.plan(random.Random(seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sl.SimlabWarning)
            result = random_models.build(plan).run(until=plan["until"])
        seen["outcomes"] |= set(result.requests.outcome)
        seen["states"] |= set(result.message_ledger().state)
        seen["faults"] |= set(result.faults.fault)
        logs = result.logs.message
        seen["lost"] += logs.str.endswith("lost in the crash").sum()
        seen["refused"] += logs.str.endswith("refused").sum()
        seen["outboxes"] += any(t["way"] == "outbox" for t in plan["topics"])
    assert seen["outcomes"] == {"ok", "error", "timeout", "rejected", "in_flight"}
    assert seen["states"] == {"acked", "dead_lettered", "pending"}
    assert seen["faults"] == {"crash", "slowdown", "errors", "partition", "message_loss",
                              "broker_outage"}
    assert seen["lost"] > 0 and seen["refused"] > 0 and seen["outboxes"] > 10
