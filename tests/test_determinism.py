"""Deterministic: the same seed gives the same DataFrames, and streams do not interfere.

* Same seed, same model: identical tables, whether the world is run twice or built twice,
  and whatever PYTHONHASHSEED a process happens to have.
* Another seed: another run.
* One random stream per named component: a service's draws depend on its own stream
  only, so adding an unrelated service (with its own load) changes nothing for it.
"""

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pandas.testing import assert_frame_equal

import simlab as sl
from simlab.randomness import stream_seed

TABLES = tuple(sl.schema.TABLES)  # requests, spans, logs, messages, queues, faults, ...


def build_shop(seed=7):
    """A model that draws from every kind of stream: loads, work, errors, network."""
    world = sl.World(seed=seed, latency=sl.Exp(mean=0.001))
    gateway = world.service("gateway", workers=4, queue=5, work=sl.Exp(mean=0.002))
    orders = world.service("orders", workers=2, work=sl.LogNormal(median=0.01, p99=0.05),
                           error_rate=0.05)
    shipping = world.service("shipping", workers=2, work=sl.Exp(mean=0.02), error_rate=0.2)
    bus = world.broker("bus", topics=["orders"], max_attempts=3, redelivery_delay=0.2)

    @gateway.endpoint("checkout")
    def checkout(ctx, order):
        yield ctx.work()
        ctx.log("checkout", order=order.id)
        yield ctx.call("orders", "place", order, timeout=0.1)

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        if ctx.random() < 0.5:
            ctx.publish(bus, "orders", order, key=order.id)

    @shipping.consumer(bus, "orders")
    def ship(ctx, order):
        yield ctx.work()

    world.load(sl.Poisson(rate=100), target=("gateway", "checkout"), duration=5)
    world.load(sl.Users(n=5, think=sl.Exp(mean=0.2)), target=("gateway", "checkout"),
               duration=5)
    world.faults.crash("orders", at=2.0, duration=0.5)
    world.faults.random("crash", ["shipping"], count=2, duration=(0.2, 0.5), within=(0, 5))
    return world


def assert_same_tables(first, second):
    for table in TABLES:
        assert_frame_equal(getattr(first, table), getattr(second, table), check_exact=True,
                           obj=table)
    assert_frame_equal(first.message_ledger(), second.message_ledger(), check_exact=True)


def test_same_world_run_twice_gives_identical_tables():
    world = build_shop()
    first, second = world.run(), world.run()
    assert len(first.requests) > 300 and len(first.messages) > 100  # a run worth comparing
    assert_same_tables(first, second)


def test_two_worlds_built_alike_give_identical_tables():
    assert_same_tables(build_shop().run(), build_shop().run())


def test_run_seed_overrides_world_seed():
    assert_same_tables(build_shop(seed=0).run(seed=42), build_shop(seed=42).run())


def test_different_seeds_give_different_runs():
    first, second = build_shop(seed=1).run(), build_shop(seed=2).run()
    assert not first.requests.start.equals(second.requests.start)
    assert not first.spans.duration.equals(second.spans.duration)
    # The random fault schedule is drawn from the seed too.
    assert not first.faults.equals(second.faults)


# -- one stream per component


def add_leaf(world, name, workers=1, error_rate=0.0):
    leaf = world.service(name, workers=workers, work=sl.Exp(mean=0.01), error_rate=error_rate)

    @leaf.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()

    return leaf


def spans_of(result, service):
    spans = result.spans
    return spans[(spans.service == service) & (spans.kind == "server")]


def work_draws(result, service):
    """The work times ``service`` drew, in the order it drew them (when each began work)."""
    spans = spans_of(result, service)
    began = spans.start + spans["wait"]
    order = np.argsort(began.to_numpy(), kind="stable")
    return (spans.end - began).to_numpy()[order]


def test_an_unrelated_service_does_not_change_another_services_draws():
    alone = sl.World(seed=5)
    add_leaf(alone, "a")
    alone.load(sl.Poisson(rate=50), target=("a", "get"), duration=10)

    crowded = sl.World(seed=5)
    add_leaf(crowded, "b", workers=3)  # added *before* a: registration order must not matter
    crowded.load(sl.Poisson(rate=200), target=("b", "get"), duration=20)
    add_leaf(crowded, "a")
    crowded.load(sl.Poisson(rate=50), target=("a", "get"), duration=10)

    a_alone, a_crowded = spans_of(alone.run(), "a"), spans_of(crowded.run(), "a")
    assert len(a_alone) > 400
    # a's arrivals (its load's stream) and work times (its own stream) are untouched.
    # (Its trace and span ids do change: they are counters shared by the whole run.)
    for column in ("start", "end", "wait", "status"):
        assert a_alone[column].tolist() == a_crowded[column].tolist(), column


def test_a_service_draws_the_same_sequence_when_others_share_it():
    """When b calls a, a serves other requests in another order, yet the k-th piece of
    work a does still takes the k-th draw of a's own stream."""
    alone = sl.World(seed=5)
    add_leaf(alone, "a", workers=2)
    alone.load(sl.Poisson(rate=100), target=("a", "get"), duration=10)

    shared = sl.World(seed=5)
    add_leaf(shared, "a", workers=2)
    shared.load(sl.Poisson(rate=100), target=("a", "get"), duration=10)
    b = shared.service("b", workers=None)

    @b.endpoint("get")
    def get(ctx, payload):
        yield ctx.call("a", "get", payload)

    shared.load(sl.Poisson(rate=30), target=("b", "get"), duration=10)

    alone_result, shared_result = alone.run(), shared.run()
    draws_alone = work_draws(alone_result, "a")
    draws_shared = work_draws(shared_result, "a")
    assert len(draws_shared) > len(draws_alone) > 900
    # Timings did change (b's requests queue at a) ...
    assert not np.array_equal(spans_of(shared_result, "a").end.to_numpy()[:100],
                              spans_of(alone_result, "a").end.to_numpy()[:100])
    # ... but the sequence of work draws did not (up to rounding: end - begin).
    np.testing.assert_allclose(draws_shared[:len(draws_alone)], draws_alone, rtol=1e-9,
                               atol=1e-12)


def test_error_draws_have_their_own_stream():
    """Turning on error_rate must not shift the work times a service draws."""
    results = []
    for error_rate in (0.0, 0.3):
        world = sl.World(seed=9)
        add_leaf(world, "a", error_rate=error_rate)
        world.load(sl.Poisson(rate=50), target=("a", "get"), duration=10)
        results.append(spans_of(world.run(), "a"))
    reliable, flaky = results
    assert (flaky.status == "error").mean() > 0.2
    assert reliable.end.tolist() == flaky.end.tolist()


# -- stream seeds are stable across processes


def test_stream_seed_depends_on_seed_and_name():
    seeds = {stream_seed(s, n) for s in (0, 1, 7) for n in ("service:a", "service:b", "load:a")}
    assert len(seeds) == 9
    assert all(0 <= s < 2**64 for s in seeds)
    assert stream_seed(7, "service:a") == stream_seed(7, "service:a")


# Run in a fresh interpreter: print stream seeds and a digest of every table.
CHILD = textwrap.dedent("""
    import hashlib, sys
    sys.path.insert(0, {tests!r})
    from simlab.randomness import stream_seed
    from test_determinism import TABLES, build_shop
    print([stream_seed(s, n) for s in (0, 7) for n in ("service:a", "load:gateway.checkout")])
    result = build_shop().run()
    for table in TABLES:
        frame = getattr(result, table)
        print(table, hashlib.sha256(frame.to_csv().encode()).hexdigest())
""")


def run_child(hash_seed):
    env = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
    code = CHILD.format(tests=os.path.dirname(__file__))
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def children_outputs():
    """The output of two interpreters whose built-in hash() differs (run side by side)."""
    children = [run_child(hash_seed) for hash_seed in (1, 4242)]
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        outputs.append(out.splitlines())
    return outputs


def test_stream_seed_does_not_depend_on_pythonhashseed(children_outputs):
    first, second = children_outputs
    here = str([stream_seed(s, n) for s in (0, 7) for n in ("service:a", "load:gateway.checkout")])
    assert first[0] == second[0] == here


def test_runs_do_not_depend_on_pythonhashseed(children_outputs):
    first, second = children_outputs
    result = build_shop().run()
    here = [f"{t} {hashlib.sha256(getattr(result, t).to_csv().encode()).hexdigest()}"
            for t in TABLES]
    assert first[1:] == second[1:] == here
