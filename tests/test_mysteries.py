"""The mysteries of lesson 06: each problem is where ``MYSTERIES`` says, and its knob fixes it.

Each mystery is run broken and fixed on the same seeds (the same riders, so the
difference is paired). The fix must lower the p99 latency by more than the 95 %
confidence interval of the paired difference, and by 20 ms more; and the telemetry of the broken run must
point at the service and endpoint the mystery names, and not elsewhere.
"""

import math

import numpy as np
import pandas as pd
import pytest

import simlab as sl
from simlab.experiments import t95
from simlab.scenarios import MYSTERIES, dispatch, mystery
from simlab.scenarios.mysteries import CANDIDATES

SEEDS = (1, 2, 3)
SHORT = 10.0      # s of load: enough riders for a p99, quick enough for three seeds


def own_time(result):
    """Per server span: its self time less its wait for a worker (the work it did), as a
    Series indexed like ``result.spans``."""
    spans = sl.traces.self_time(result)
    servers = spans[spans.kind == "server"]
    return servers.self_time - servers.wait


def by_endpoint(result, column):
    """The mean of ``column`` (a Series over server spans) per (service, operation)."""
    spans = result.spans.loc[column.index]
    return column.groupby([spans.service, spans.operation]).mean()


@pytest.mark.parametrize("name", list(MYSTERIES))
def test_the_knob_fixes_the_mystery_beyond_sampling_error(name):
    broken = [mystery(name, duration=SHORT, seed=seed).run().summary() for seed in SEEDS]
    fixed = [mystery(name, fixed=True, duration=SHORT, seed=seed).run().summary()
             for seed in SEEDS]
    gain = np.array([b.latency_p99 - f.latency_p99 for b, f in zip(broken, fixed)])
    half = t95(len(gain) - 1) * gain.std(ddof=1) / math.sqrt(len(gain))
    assert gain.mean() - half > 0.02, (
        f"{name}: the fix lowers p99 by {gain.mean() * 1000:.0f} ± {half * 1000:.0f} ms")
    assert all(f.error_rate == 0 for f in fixed)


def test_healthy_world_has_no_mystery_in_it():
    result = dispatch(duration=SHORT).run()
    spans = result.spans
    assert (spans.status == "ok").all()
    assert spans.wait.max() < 0.005     # every pool big enough: nobody waits for a worker
    assert result.summary().latency_p99 < 0.25


def test_slow_query_is_mysql_own_work_for_customer():
    broken, fixed = mystery("slow-query").run(), mystery("slow-query", fixed=True).run()
    grew = by_endpoint(broken, own_time(broken)) - by_endpoint(fixed, own_time(fixed))
    assert grew.idxmax() == ("mysql", "query")
    assert grew.max() > 0.03          # the customer's scan, in every third query
    queries = broken.logs[broken.logs.message == "query"]
    assert {"table", "sql", "rows"} <= set(queries.attributes.iloc[0])


def test_n_plus_one_is_many_queries_from_driver():
    def queries_per_find(result):
        spans = result.spans
        finds = spans[(spans.service == "driver") & (spans.operation == "find")]
        calls = spans[(spans.kind == "client") & spans.parent_id.isin(finds.span_id)]
        return calls.groupby("parent_id").size().mean()

    assert queries_per_find(mystery("n-plus-one").run()) == 1 + MYSTERIES["n-plus-one"].fixed
    assert queries_per_find(mystery("n-plus-one", fixed=True).run()) == 2


@pytest.mark.parametrize("name", ["small-pool", "shared-pool"])
def test_a_small_pool_shows_as_waiting_in_the_named_service(name):
    result = mystery(name).run()
    servers = result.spans[result.spans.kind == "server"]
    wait = servers.groupby(["service", "operation"]).wait.mean()
    found = MYSTERIES[name]
    assert wait.idxmax() == (found.service, found.operation)
    assert wait.max() > 0.02
    others = wait.drop((found.service, found.operation))
    assert others.max() < 0.005


def test_shared_pool_makes_the_customer_wait_for_others_queries():
    result = mystery("shared-pool").run()
    spans = result.spans
    customer = spans[(spans.service == "customer") & (spans.kind == "server")].span_id
    calls = spans[(spans.kind == "client") & spans.parent_id.isin(customer)].span_id
    queries = spans[(spans.service == "mysql") & spans.parent_id.isin(calls)]
    own = own_time(result).loc[queries.index]
    assert queries.wait.mean() > 5 * own.mean()    # it waits far longer than it runs


def test_flaky_retries_fail_customer_and_retry_from_frontend():
    result = mystery("flaky-retries").run()
    spans = result.spans
    customer = spans[(spans.service == "customer") & (spans.kind == "server")]
    share, n = (customer.status == "error").mean(), len(customer)
    assert abs(share - 0.3) < 3.3 * math.sqrt(0.3 * 0.7 / n)
    others = spans[(spans.kind == "server") & ~spans.service.isin(["customer", "frontend"])]
    assert (others.status == "ok").all()
    retried = spans[(spans.kind == "client") & (spans.attempt > 1)]
    assert set(retried.operation) == {"customer.get"}
    errors = result.logs[result.logs.level == "error"]
    assert set(errors.service) == {"customer", "frontend"} and (errors.trace_id != "").all()
    failed = result.requests.trace_id[result.requests.outcome == "error"]
    assert sorted(errors.trace_id[errors.service == "frontend"]) == sorted(failed)
    # Retries hide most failures: a request fails only if all four attempts do.
    assert result.summary().error_rate < 0.3 ** 4 + 3.3 * math.sqrt(0.3 ** 4 / len(result.requests))


def test_every_log_line_of_a_ride_carries_its_trace():
    result = mystery("slow-query", duration=SHORT).run()
    logs = result.logs
    assert (logs.trace_id != "").all()
    ride = result.requests.trace_id.iloc[0]
    services = set(logs.service[logs.trace_id == ride])
    assert services == {"frontend", "customer", "driver", "route", "mysql", "notifications"}


def test_unknown_mystery_and_bad_knob_are_refused():
    with pytest.raises(sl.ModelError, match="unknown mystery 'slow'"):
        mystery("slow")
    with pytest.raises(sl.ModelError, match="batch=20"):
        dispatch(batch=20)


@pytest.mark.parametrize("name", ["slow-query", "small-pool", "shared-pool"])
def test_critical_paths_lead_to_the_named_endpoint(name):
    result = mystery(name, duration=SHORT).run()
    rides = result.requests.trace_id.iloc[::10]          # every tenth ride
    paths = pd.concat([sl.traces.critical_path(result, ride) for ride in rides])
    waited_on = paths.groupby(["service", "operation"]).on_path.sum()
    found = MYSTERIES[name]
    assert waited_on.idxmax() == (found.service, found.operation)
    assert waited_on.max() > 0.4 * paths.on_path.sum()


def test_the_n_plus_one_queries_are_all_on_the_critical_path():
    result = mystery("n-plus-one", duration=SHORT).run()
    ride = result.requests.trace_id.iloc[0]
    path = sl.traces.critical_path(result, ride)
    queries = path[(path.service == "mysql") & (path.operation == "query")]
    assert len(queries) == 1 + 1 + CANDIDATES                # customer's, the geo query, ten
    driver = path[(path.service == "driver") & (path.kind == "client")]
    assert len(driver) == 1 + CANDIDATES


def test_self_time_by_endpoint_grows_where_the_mystery_is():
    for name in ("slow-query", "small-pool", "shared-pool"):
        broken = sl.traces.time_by_endpoint(mystery(name, duration=SHORT).run())
        fixed = sl.traces.time_by_endpoint(mystery(name, fixed=True, duration=SHORT).run())
        grew = (broken.set_index(["service", "operation"]).self_total
                - fixed.set_index(["service", "operation"]).self_total)
        found = MYSTERIES[name]
        assert grew.idxmax() == (found.service, found.operation), name


def test_exercise_06_checks_every_kind_twice_and_every_suspect():
    from simlab.exercises import ex06

    planted = [ex06._planted(seed) for seed in ex06.CHECK_SEEDS]
    kinds = [kind for _, kind in planted]
    assert all(kinds.count(kind) >= 2 for kind in ex06.KINDS)
    assert {service for service, _ in planted} == set(ex06.SUSPECTS)
    # A slow query deep in the chain: blaming the slowest service by total time fails there.
    assert ("pricing", "slow-query") in planted or ("stock", "slow-query") in planted


def test_exercise_06_healthy_shop_waits_for_nobody_and_fails_nothing():
    from simlab.exercises.ex06 import incident

    spans = incident(1, problem=(), duration=5).run().spans
    assert (spans.status == "ok").all() and (spans.wait == 0).all()
