"""Every number a learner can pass is checked: NaN, infinity, bools, negatives, zero,
strings and None are refused with a ``ModelError`` that names the parameter and shows
the bad value -- before the run, or at the first step that meets the value. Never a raw
KeyError, AttributeError or SimPy error, and never a hang.

The list of parameters is not written by hand: ``public_callables()`` finds every public
function and method by introspection, and ``test_every_parameter_is_classified`` fails
when one of their parameters is missing from ``PARAMETERS``. So a new parameter cannot
be forgotten: it must be classified, and if it is a number, it is then fed every bad
value of its kind.
"""

import inspect
import math
import re

import numpy as np
import pytest
from checks import fails_if_it_hangs

import simlab as sl
from simlab import scenarios, theory
from simlab.broker import Broker
from simlab.context import Context
from simlab.data import Database
from simlab.faults import Faults
from simlab.services import Service

NAN, INF = math.nan, math.inf


# -- every public function and method, found by introspection


def public_callables():
    """``{name: function}`` of what a model or a lesson may call."""
    found = {}
    made_by_simlab = [Service, Broker, Faults, Context, Database]  # methods only
    classes = []
    for name in sl.__all__:
        thing = getattr(sl, name)
        if inspect.isclass(thing) and not issubclass(thing, BaseException) \
                and thing not in (sl.Result, sl.Payload):  # made by simlab, not by a model
            classes.append(thing)
            found[name] = thing
        elif inspect.isfunction(thing):
            found[name] = thing
    for cls in classes + made_by_simlab:
        for name, member in vars(cls).items():
            if inspect.isfunction(member) and not name.startswith("_"):
                found[f"{cls.__name__}.{name}"] = member
    for module in (scenarios, theory):
        for name in dir(module):
            thing = getattr(module, name)
            if inspect.isfunction(thing) and not name.startswith("_") \
                    and thing.__module__.startswith(module.__name__):
                found[name] = thing
    return found


def parameters(function):
    return [name for name in inspect.signature(function).parameters if name != "self"]


# -- what each parameter is. A kind names the values it accepts; None: not a number.

SECONDS, POSITIVE_SECONDS, TIMEOUT = "seconds", "seconds>0", "seconds>0|None"
DISTRIBUTION = "distribution"        # a distribution, or seconds (0 or more)
COUNT, OPTIONAL_COUNT, COUNT0 = "count", "count|None", "count>=0"
PROBABILITY = "probability"
POSITIVE = "positive"                # a rate, a factor: above 0
RATE0 = "rate>=0"                    # a rate that may be 0 (none at all)

PARAMETERS = {
    "World": {"seed": "seed", "latency": DISTRIBUTION, "max_events": COUNT,
              "max_seconds": POSITIVE_SECONDS, "sample_every": TIMEOUT,
              "max_records": COUNT, "time_unit": None},
    "World.service": {"name": None, "workers": OPTIONAL_COUNT, "work": DISTRIBUTION,
                      "queue": "count>=0|None", "error_rate": PROBABILITY,
                      "rate_limit": None, "relay_delay": POSITIVE_SECONDS, "version": None},
    "World.add_component": {"make": None},
    "World.broker": {"name": None, "topics": None, "max_attempts": COUNT,
                     "redelivery_delay": SECONDS, "delivery": None},
    "World.load": {"arrivals": None, "target": None, "duration": POSITIVE_SECONDS,
                   "start": SECONDS, "payload": None, "timeout": TIMEOUT, "name": None},
    "World.run": {"seed": "seed|None", "until": TIMEOUT},
    "World.pipeline": {"service": None, "commits": None, "defect_rate": PROBABILITY,
                       "defects": None, "batching": None, "runners": COUNT, "stages": None,
                       "flaky": PROBABILITY, "reruns": COUNT0, "strategy": None,
                       "duration": POSITIVE_SECONDS, "start": SECONDS,
                       "fix_time": "distribution|None"},
    "Schedule": {"every": POSITIVE_SECONDS},
    "Broker.topic": {"name": None, "partitions": OPTIONAL_COUNT, "key": None},
    "Broker.replay": {"topic": None, "group": None, "at": SECONDS},
    "Broker.scale": {"topic": None, "group": None, "consumers": COUNT, "at": SECONDS},
    "Service.endpoint": {"name": None},
    "Service.consumer": {"broker": None, "topic": None, "group": None,
                         "consumers": OPTIONAL_COUNT, "view_of": None, "idempotent": None,
                         "propagate": None},
    "Faults.crash": {"service": None, "at": SECONDS, "duration": POSITIVE_SECONDS},
    "Faults.slowdown": {"service": None, "at": SECONDS, "duration": POSITIVE_SECONDS,
                        "factor": POSITIVE},
    "Faults.errors": {"service": None, "at": SECONDS, "duration": POSITIVE_SECONDS,
                      "probability": PROBABILITY},
    "Faults.partition": {"side": None, "other_side": None, "at": SECONDS,
                         "duration": POSITIVE_SECONDS},
    "Faults.message_loss": {"service": None, "other": None, "at": SECONDS,
                            "duration": POSITIVE_SECONDS, "probability": PROBABILITY},
    "Faults.broker_outage": {"broker": None, "at": SECONDS, "duration": POSITIVE_SECONDS,
                             "publishers": None},
    "Faults.random": {"kind": None, "targets": None, "count": COUNT,
                      "duration": "pair>0", "within": "pair", "factor": POSITIVE},
    "Context.work": {"duration": "distribution|None"},
    "Context.sleep": {"seconds": DISTRIBUTION},
    "Context.call": {"service": None, "endpoint": None, "payload": None, "timeout": TIMEOUT,
                     "retry": None, "breaker": None, "bulkhead": None, "fallback": None,
                     "propagate": None},
    "Context.publish": {"broker": None, "topic": None, "payload": None, "key": None,
                        "propagate": None},
    "Context.outbox": {"broker": None, "topic": None, "payload": None, "key": None},
    "Context.saga": {"saga": None, "payload": None},
    "Context.log": {"message": None, "level": None, "fields": None},
    "Context.random": {},
    "Database.write": {"key": None, "value": None},
    "Database.read": {"key": None},
    "Database.version": {"key": None},
    "Database.wait_for": {"key": None, "version": COUNT0},
    "Constant": {"value": SECONDS},
    "Exp": {"mean": POSITIVE_SECONDS},
    "LogNormal": {"median": POSITIVE_SECONDS, "p99": POSITIVE_SECONDS},
    "Uniform": {"low": SECONDS, "high": SECONDS},
    "Empirical": {"values": "list of seconds"},
    "Poisson": {"rate": POSITIVE},
    "Users": {"n": COUNT, "think": DISTRIBUTION},
    "Burst": {"size": COUNT, "over": POSITIVE_SECONDS},
    "Exponential": {"base": POSITIVE_SECONDS, "factor": "factor>=1", "cap": POSITIVE_SECONDS},
    "Retry": {"attempts": COUNT, "backoff": DISTRIBUTION, "jitter": None,
              "budget": "budget|None", "on": None},
    "CircuitBreaker": {"failure_rate": "probability>0", "window": COUNT,
                       "minimum_calls": COUNT, "open_for": POSITIVE_SECONDS, "probes": COUNT},
    "Bulkhead": {"max_concurrent": COUNT, "max_waiting": COUNT0},
    "TokenBucket": {"rate": POSITIVE, "burst": COUNT},
    "Saga": {"steps": None, "timeout": TIMEOUT, "compensation_retry": None},
    "compare": {"designs": None, "seeds": "seeds", "metrics": None, "executor": None,
                "progress": None},
    "replicate": {"build": None, "seeds": "seeds", "metric": None, "executor": None,
                  "progress": None},
    # sweep's executor, grid and errors are checked in tests/test_sweeps.py
    "sweep": {"build": None, "grid": None, "seeds": "seeds", "metrics": None,
              "executor": None, "progress": None, "errors": None},
    "Swept": {"runs": None, "parameters": None},
    "Swept.means": {},
    "mean_ci": {"values": None},  # data to summarise, not a setting: NaN is skipped
    "shop": {"style": None, "rate": POSITIVE, "duration": POSITIVE_SECONDS, "seed": "seed",
             "work": "per service seconds>0", "workers": "per service count|None",
             "outage": "outage", "error_rates": "per service probability",
             "latency": DISTRIBUTION, "timeout": TIMEOUT, "partitions": OPTIONAL_COUNT,
             "consumers": "per service count|None"},
    "read_your_writes": {"remedy": None, "rate": POSITIVE, "duration": POSITIVE_SECONDS,
                         "seed": "seed", "projection_work": POSITIVE_SECONDS,
                         "consumers": OPTIONAL_COUNT, "partitions": OPTIONAL_COUNT,
                         "latency": DISTRIBUTION},
    "cascade": {"rate": POSITIVE, "status_rate": POSITIVE, "duration": POSITIVE_SECONDS,
                "seed": "seed", "slow_at": SECONDS, "slow_for": POSITIVE_SECONDS,
                "slow_factor": POSITIVE, "timeout": TIMEOUT, "retry": None, "breaker": None,
                "bulkhead": None, "fallback": None, "client_timeout": TIMEOUT},
    "flash_sale": {"rate": POSITIVE, "burst": COUNT0, "consumers": COUNT,
                   "partitions": OPTIONAL_COUNT, "payments_work": POSITIVE_SECONDS,
                   "duration": POSITIVE_SECONDS, "burst_at": SECONDS,
                   "burst_over": POSITIVE_SECONDS, "scale": None, "seed": "seed"},
    "address_book": {"show_address": None, "partitions": OPTIONAL_COUNT, "customers": COUNT,
                     "rate": POSITIVE, "duration": POSITIVE_SECONDS, "crashes": COUNT0,
                     "redelivery_delay": SECONDS, "seed": "seed"},
    "flaky_world": {"p": PROBABILITY, "attempts": COUNT, "rate": POSITIVE,
                    "duration": POSITIVE_SECONDS, "seed": "seed"},
    "billing_world": {"handler": None, "semantics": None, "rate": POSITIVE,
                      "duration": POSITIVE_SECONDS, "seed": "seed", "crashes": COUNT0,
                      "poison_every": COUNT0, "fixed_at": "seconds|None",
                      "replay_at": "seconds|None", "max_attempts": COUNT,
                      "redelivery_delay": SECONDS, "republished": PROBABILITY,
                      "billing_work": POSITIVE_SECONDS},
    "delivery": {"semantics": None, "rate": POSITIVE, "duration": POSITIVE_SECONDS,
                 "seed": "seed", "crashes": COUNT0, "poison_every": COUNT0,
                 "max_attempts": COUNT},
    "dual_write": {"design": None, "rate": POSITIVE, "duration": POSITIVE_SECONDS,
                   "seed": "seed", "crashes": COUNT0, "render_time": POSITIVE_SECONDS},
    "checkout_saga": {"rate": POSITIVE, "duration": POSITIVE_SECONDS, "seed": "seed",
                      "failure_rates": "per saga step probability", "timeout": TIMEOUT},
    "World.deploy": {"service": None, "version": None, "at": SECONDS, "strategy": None,
                     "defect": None, "changes": COUNT0},
    "World.alert": {"service": None, "alert": None},
    "World.remediation": {"how": None, "after": SECONDS, "hotfix": None},
    "Recreate": {"downtime": SECONDS},
    "Rolling": {"instances": COUNT, "max_surge": COUNT0, "max_unavailable": COUNT0,
                "ready_after": SECONDS},
    "BlueGreen": {"ready_after": SECONDS, "scale_down_after": SECONDS},
    "Canary": {"steps": None, "step": "probability>0|None", "max_weight": "probability>0",
               "interval": POSITIVE_SECONDS, "failure_limit": COUNT, "min_requests": COUNT0,
               "max_error_rate": PROBABILITY, "max_p99": TIMEOUT, "inconclusive": None},
    "Defect": {"kind": None, "rate": "probability|None", "factor": "factor>=1|None",
               "share": "probability|None"},
    "BurnRateAlert": {"slo": "probability>0", "window": POSITIVE_SECONDS,
                      "burn_rate": POSITIVE, "every": TIMEOUT, "min_requests": COUNT0},
    "dispatch": {"rate": POSITIVE, "duration": POSITIVE_SECONDS, "seed": "seed", "index": None,
                 "batch": COUNT, "route_workers": OPTIONAL_COUNT, "customer_errors": PROBABILITY,
                 "pool": OPTIONAL_COUNT, "propagate": None},
    "mystery": {"name": None, "fixed": None, "rate": POSITIVE, "duration": POSITIVE_SECONDS,
                "seed": "seed"},
    "release": {"batching": None, "runners": COUNT, "strategy": None,
                "defect_rate": PROBABILITY, "commit_rate": POSITIVE, "flaky": PROBABILITY,
                "reruns": COUNT0, "duration": POSITIVE_SECONDS, "seed": "seed",
                "traffic": RATE0, "remediation": None, "alert": None,
                "respond_after": SECONDS},
    "one_release": {"strategy": None, "defect": None, "traffic": POSITIVE, "seed": "seed",
                    "duration": POSITIVE_SECONDS, "alert": None, "respond_after": SECONDS},
    "blast_radius": {"result": None, "version": None, "service": None},
    "mmc_wait": {"lam": POSITIVE, "mu": POSITIVE, "c": COUNT},
    "mmc_sojourn": {"lam": POSITIVE, "mu": POSITIVE, "c": COUNT},
    "tandem_sojourn": {"lam": POSITIVE, "stations": None},
    "erlang_c": {"c": COUNT, "offered": POSITIVE},
}

#: Public methods that simlab calls for itself (a model has no reason to): not checked.
INTERNAL = {"World.validate", "World.check_service", "World.unknown_topic_message",
            "Broker.redelivery_delay_for", "Broker.get_topic", "Broker.subscribe",
            "Faults.all", "Faults.crash_targets", "Context.yielded", "Context.never_yielded",
            "Exponential.delay", "Retry.delay",
            "Constant.sample", "Exp.sample", "LogNormal.sample", "Uniform.sample",
            "Empirical.sample",
            # a deployment strategy's moves, and an alert's arithmetic: the deployer's
            "Recreate.rollout", "Recreate.roll_back", "Rolling.rollout", "Rolling.roll_back",
            "Rolling.check_service", "BlueGreen.rollout", "BlueGreen.roll_back",
            "Canary.rollout", "BurnRateAlert.burn"}


def test_every_parameter_is_classified():
    found = public_callables()
    assert set(found) - INTERNAL == set(PARAMETERS), "classify the new callable below"
    for name, function in found.items():
        if name not in INTERNAL:
            assert parameters(function) == list(PARAMETERS[name]), name


# -- the bad values of each kind


def bad_values(kind):
    """The values a parameter of this kind must refuse."""
    if kind.startswith("per "):  # a dict of one value per service (or saga step)
        name = "inventory" if "saga" in kind else "payments"
        return [{name: value} for value in bad_values(kind.split()[-1])]
    optional = kind.endswith("|None")
    kind = kind.removesuffix("|None")
    if kind in ("seed", "seeds"):
        values = [NAN, INF, True, "42", 2.5, 7.0, [1, 2]]
        if kind == "seeds":
            return [[value] for value in values] + [5, None]
        return values + ([] if optional else [None])
    if kind.startswith("pair"):
        values = [(NAN, 1), (1, INF), (-1, 1), (2, 1), "1", None, 5]
        return values + ([(0, 1)] if kind == "pair>0" else [])
    if kind == "list of seconds":
        return [[NAN], [INF], [-1], ["1"], [None], "1", None, 5]
    if kind == "outage":
        return [("payments", at, 1.0) for at in bad_values(SECONDS)] + \
            [("payments", 1.0, seconds) for seconds in bad_values(POSITIVE_SECONDS)] + [5]
    values = [NAN, INF, -INF, True, False, "1"] + ([] if optional else [None])
    if kind in (SECONDS, DISTRIBUTION, COUNT0, "budget", RATE0):
        values += [-1]
    if kind in (POSITIVE_SECONDS, COUNT, POSITIVE):
        values += [-1, 0]
    if kind.startswith("count"):
        values += [2.5]
    if kind == PROBABILITY:
        values += [-0.1, 1.5]
    if kind == "probability>0":
        values += [0, 1.5]
    if kind == "factor>=1":
        values += [0.5, 0]
    return values


# -- a tiny model in which to try each value


def leaf(ctx, payload):
    yield ctx.work()


def calls_and_publishes(ctx, payload):
    yield ctx.work()
    yield ctx.call("back", "x", payload)
    ctx.publish("bus", "orders", payload)


def doing(step):
    """A handler that yields ``step(ctx, payload)`` (a work step, a call, a saga ...)."""
    def handler(ctx, payload):
        yield step(ctx, payload)
    return handler


def tiny_world(world=None, service=None, broker=None, topic=None, consumer=None, load=None,
               handler=calls_and_publishes, then=None):
    """front.go (``handler``) calls back.x and publishes on bus/orders, which back
    consumes; each part's arguments may be given."""
    made = sl.World(**{"seed": 1, **(world or {})})
    front = made.service("front", **{"workers": None, **(service or {})})
    back = made.service("back", workers=2, work=0.01)
    bus = made.broker("bus", **(broker or {}))
    bus.topic("orders", **(topic or {}))
    front.endpoint("go")(handler)
    back.endpoint("x")(leaf)
    back.consumer(bus, "orders", **(consumer or {}))(leaf)
    made.load(**{"arrivals": sl.Poisson(rate=20), "target": ("front", "go"), "duration": 1,
                 **(load or {})})
    if then is not None:
        then(made)
    return made


def tiny(run=None, **parts):
    return tiny_world(**parts).run(**(run or {}))


def with_fault(kind, *targets, **defaults):
    return lambda kw: tiny(then=lambda w: getattr(w.faults, kind)(*targets,
                                                                  **{**defaults, **kw}))


def calling(**policy):
    return doing(lambda ctx, payload: ctx.call("back", "x", payload, **policy))


def quick(scenario, **defaults):
    """A scenario run short: one second of load unless the duration is what is tried."""
    return lambda kw: scenario(**{"duration": 1.0, **defaults, **kw}).run()


def deploying(strategy, kw):
    """Deploy a new version of back with ``strategy(**kw)``."""
    return tiny(then=lambda w: w.deploy("back", "2", at=0.1, strategy=strategy(**kw)))


TRY = {  # callable -> how to try one bad keyword argument on it
    "World": lambda kw: tiny(world=kw),
    "World.service": lambda kw: tiny(service=kw),
    "World.broker": lambda kw: tiny(broker=kw),
    "World.load": lambda kw: tiny(load=kw),
    "World.run": lambda kw: tiny(run=kw),
    "World.pipeline": lambda kw: tiny(then=lambda w: w.pipeline("back", **{
        "commits": sl.Poisson(rate=1), "duration": 2, **kw})),
    "Schedule": lambda kw: tiny(then=lambda w: w.pipeline(
        "back", commits=sl.Poisson(rate=1), duration=2, batching=sl.Schedule(**kw))),
    "Broker.topic": lambda kw: tiny(topic=kw),
    "Broker.replay": lambda kw: tiny(then=lambda w: w.brokers["bus"].replay(
        "orders", "back", **{"at": 0.5, **kw})),
    "Broker.scale": lambda kw: tiny(then=lambda w: w.brokers["bus"].scale(
        "orders", "back", **{"consumers": 1, "at": 0.5, **kw})),
    "Service.consumer": lambda kw: tiny(consumer=kw),
    "Faults.crash": with_fault("crash", "back", at=0.1, duration=0.1),
    "Faults.slowdown": with_fault("slowdown", "back", at=0.1, duration=0.1),
    "Faults.errors": with_fault("errors", "back", at=0.1, duration=0.1),
    "Faults.partition": with_fault("partition", ["front"], ["back"], at=0.1, duration=0.1),
    "Faults.message_loss": with_fault("message_loss", "front", "back", at=0.1, duration=0.1),
    "Faults.broker_outage": with_fault("broker_outage", "bus", at=0.1, duration=0.1),
    "Faults.random": with_fault("random", "crash", ["back"]),
    "Context.work": lambda kw: tiny(handler=doing(lambda ctx, p: ctx.work(**kw))),
    "Context.sleep": lambda kw: tiny(handler=doing(lambda ctx, p: ctx.sleep(**kw))),
    "Context.call": lambda kw: tiny(handler=calling(**kw)),
    "Database.wait_for": lambda kw: tiny(handler=doing(lambda ctx, p: ctx.db.wait_for(
        "key", **kw))),
    "Constant": lambda kw: tiny(service={"work": sl.Constant(**kw)}),
    "Exp": lambda kw: tiny(service={"work": sl.Exp(**kw)}),
    "LogNormal": lambda kw: tiny(service={"work": sl.LogNormal(**{"median": 0.01,
                                                                   "p99": 0.05, **kw})}),
    "Uniform": lambda kw: tiny(service={"work": sl.Uniform(**{"low": 0.0, "high": 0.1,
                                                               **kw})}),
    "Empirical": lambda kw: tiny(service={"work": sl.Empirical(**kw)}),
    "Poisson": lambda kw: tiny(load={"arrivals": sl.Poisson(**kw)}),
    "Users": lambda kw: tiny(load={"arrivals": sl.Users(**{"n": 1, **kw})}),
    "Burst": lambda kw: tiny(load={"arrivals": sl.Burst(**{"size": 5, **kw}),
                                   "duration": None}),
    "Exponential": lambda kw: tiny(handler=calling(retry=sl.Retry(
        backoff=sl.Exponential(**{"base": 0.01, **kw})))),
    "Retry": lambda kw: tiny(handler=calling(retry=sl.Retry(**kw))),
    "CircuitBreaker": lambda kw: tiny(handler=calling(breaker=sl.CircuitBreaker(**kw))),
    "Bulkhead": lambda kw: tiny(handler=calling(bulkhead=sl.Bulkhead(**{
        "max_concurrent": 1, **kw}))),
    "TokenBucket": lambda kw: tiny(service={"rate_limit": sl.TokenBucket(**{"rate": 100,
                                                                            **kw})}),
    "Saga": lambda kw: tiny(handler=doing(lambda ctx, p: ctx.saga(sl.Saga(**{
        "steps": [("back", "x", None)], **kw}), p))),
    "compare": lambda kw: sl.compare({"tiny": tiny_world}, **kw),
    "replicate": lambda kw: sl.replicate(tiny_world, **kw),
    "sweep": lambda kw: sl.sweep(tiny_world, **{"errors": "raise", **kw}),
    "shop": quick(scenarios.shop),
    "read_your_writes": quick(scenarios.read_your_writes),
    "cascade": quick(scenarios.cascade),
    "flash_sale": quick(scenarios.flash_sale),
    "address_book": quick(scenarios.address_book),
    "flaky_world": quick(scenarios.flaky_world, p=0.1, attempts=2),
    "billing_world": quick(scenarios.billing_world),
    "delivery": quick(scenarios.delivery),
    "dual_write": quick(scenarios.dual_write),
    "checkout_saga": quick(scenarios.checkout_saga),
    "release": quick(scenarios.release, traffic=1),
    "one_release": quick(scenarios.one_release, traffic=1),
    "World.deploy": lambda kw: tiny(then=lambda w: w.deploy(**{
        "service": "back", "version": "2", "at": 0.1, **kw})),
    "World.remediation": lambda kw: tiny(then=lambda w: w.remediation(**kw)),
    "Recreate": lambda kw: deploying(sl.Recreate, kw),
    "Rolling": lambda kw: deploying(sl.Rolling, {"instances": 2, **kw}),
    "BlueGreen": lambda kw: deploying(sl.BlueGreen, kw),
    "Canary": lambda kw: deploying(sl.Canary, kw),
    "Defect": lambda kw: tiny(then=lambda w: w.deploy("back", "2", at=0.1, defect=sl.Defect(
        {"rate": "errors", "factor": "slow", "share": "broken"}[next(iter(kw))], **kw))),
    "BurnRateAlert": lambda kw: tiny(then=lambda w: w.alert("back", sl.BurnRateAlert(**kw))),
    "dispatch": quick(scenarios.dispatch),
    "mystery": quick(scenarios.mystery, name="slow-query"),
    "mmc_wait": lambda kw: theory.mmc_wait(**{"lam": 8, "mu": 10, "c": 1, **kw}),
    "mmc_sojourn": lambda kw: theory.mmc_sojourn(**{"lam": 8, "mu": 10, "c": 1, **kw}),
    "tandem_sojourn": lambda kw: theory.tandem_sojourn(**{"stations": [(10, 1)], **kw}),
    "erlang_c": lambda kw: theory.erlang_c(**{"c": 2, "offered": 1.0, **kw}),
}

CASES = [pytest.param(name, parameter, value, id=f"{name}-{parameter}-{value!r}")
         for name, kinds in PARAMETERS.items() for parameter, kind in kinds.items()
         if kind is not None for value in bad_values(kind)]


def test_every_callable_with_a_number_can_be_tried():
    numeric = {name for name, kinds in PARAMETERS.items() if any(kinds.values())}
    assert numeric == set(TRY)


def shows(value, message):
    """Does ``message`` show the bad value (or, for a container, the bad part of it)?"""
    if isinstance(value, dict):
        return all(shows(part, message) for part in value.values())
    parts = [value] + (list(value) if isinstance(value, (list, tuple)) else [])
    return any(repr(part) in message for part in parts)


@pytest.mark.parametrize("name, parameter, value", CASES)
def test_a_bad_number_is_refused_naming_the_parameter_and_the_value(name, parameter, value):
    with fails_if_it_hangs(20), pytest.raises(sl.ModelError) as caught:
        TRY[name]({parameter: value})
    message = str(caught.value)
    assert re.search(rf"\b{parameter}\b", message), message
    assert shows(value, message), message
    if isinstance(value, (str, bool)) or value is None:
        assert isinstance(caught.value, TypeError), "a value of the wrong type"


# -- and good values of every kind still pass


def test_numpy_numbers_are_numbers():
    world = tiny_world(world={"seed": np.int64(3)}, service={"workers": np.int64(2)},
                       load={"duration": np.float64(1.0)})
    result = world.run(seed=np.int32(3))
    assert result.seed == 3 and type(result.seed) is int
    assert len(result.requests) > 0


def test_seed_seven_and_seven_as_numpy_give_the_same_run():
    plain = tiny_world().run(seed=7).requests
    numpy = tiny_world().run(seed=np.int64(7)).requests
    assert plain.equals(numpy)


def test_run_without_a_seed_uses_the_worlds():
    world = tiny_world(world={"seed": 5})
    assert world.run().requests.equals(world.run(seed=5).requests)
    assert not world.run().requests.equals(world.run(seed=6).requests)


# -- what a new user tried, and used to get away with

FOUND = {
    "run until NaN": lambda: tiny(run={"until": NAN}),
    "run until infinity": lambda: tiny(run={"until": INF}),
    "call timeout NaN": lambda: tiny(handler=calling(timeout=NAN)),
    "saga timeout NaN": lambda: sl.Saga([("back", "x", None)], timeout=NAN),
    "slowdown factor NaN": lambda: with_fault("slowdown", "back", at=0.1,
                                              duration=0.1)({"factor": NAN}),
    "backoff factor NaN": lambda: sl.Exponential(0.1, factor=NAN),
    "max_seconds NaN": lambda: sl.World(max_seconds=NAN),
    "work for ever": lambda: tiny(handler=doing(lambda ctx, p: ctx.work(INF))),
    "seed '42'": lambda: sl.World(seed="42"),
    "seed None": lambda: sl.World(seed=None),
    "seed 2.5": lambda: sl.World(seed=2.5),
    "seed [1, 2]": lambda: sl.World(seed=[1, 2]),
    "run seed 'x'": lambda: tiny(run={"seed": "x"}),
    "seed 7.0": lambda: tiny(run={"seed": 7.0}),
}


@pytest.mark.parametrize("attempt", FOUND.values(), ids=FOUND.keys())
def test_what_a_new_user_tried_is_refused(attempt):
    with fails_if_it_hangs(20), pytest.raises(sl.ModelError):
        attempt()
