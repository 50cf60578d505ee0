"""Clear errors: a mistake raises early, with a message that names the culprit.

Mistakes in the model's *shape* (a bad number, a duplicate name) raise while the model
is built; mistakes in handler *code* (a call to a misspelt service, a bug) raise the
moment the run meets them. A runaway run stops at a limit instead of hanging.
"""

import re

import pytest
from checks import fails_if_it_hangs

import simlab as sl


def leaf_world(**world_args):
    """A world with one service ``api`` (endpoint ``get``) and a load on it."""
    world = sl.World(seed=1, **world_args)
    api = world.service("api", workers=2, work=sl.Exp(mean=0.01))

    @api.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()

    world.load(sl.Poisson(rate=20), target=("api", "get"), duration=1)
    return world


def world_with_handler(handler, **world_args):
    """A world whose load hits ``front.go``, handled by ``handler``; and a ``back.x`` leaf."""
    world = sl.World(seed=1, **world_args)
    front = world.service("front", workers=None)
    back = world.service("back", workers=1, work=sl.Exp(mean=0.01))
    front.endpoint("go")(handler)

    @back.endpoint("x")
    def x(ctx, payload):
        yield ctx.work()

    world.load(sl.Poisson(rate=20), target=("front", "go"), duration=1)
    return world


# -- bad values, when the model is built


BAD_VALUES = {  # test id: (what the learner wrote, what the message must say)
    "rate-zero": (lambda: sl.Poisson(rate=0), "Poisson: rate must be a positive"),
    "rate-negative": (lambda: sl.Poisson(rate=-3), "Poisson: rate must be a positive"),
    "rate-nan": (lambda: sl.Poisson(rate=float("nan")), "Poisson: rate"),
    "rate-inf": (lambda: sl.Poisson(rate=float("inf")), "Poisson: rate"),
    "users-zero": (lambda: sl.Users(n=0), "Users: n must be"),
    "mean-zero": (lambda: sl.Exp(mean=0), "Exp: mean must be a positive number of seconds"),
    "mean-negative": (lambda: sl.Exp(mean=-1), "Exp: mean must be a positive number of seconds"),
    "p99-equal": (lambda: sl.LogNormal(median=0.01, p99=0.01),
                  r"LogNormal: p99 \(0.01\) must be greater than median \(0.01\)"),
    "p99-below": (lambda: sl.LogNormal(median=0.05, p99=0.01), r"p99 \(0.01\) must be greater"),
    "median-zero": (lambda: sl.LogNormal(median=0, p99=0.01), "LogNormal: median must be"),
    "workers-zero": (lambda: sl.World().service("api", workers=0),
                     "service 'api': workers must be"),
    "workers-negative": (lambda: sl.World().service("api", workers=-2),
                         "service 'api': workers must be"),
    "workers-fraction": (lambda: sl.World().service("api", workers=1.5),
                         "service 'api': workers must be"),
    "queue-negative": (lambda: sl.World().service("api", queue=-1), "service 'api': queue"),
    "error-rate": (lambda: sl.World().service("api", error_rate=1.5),
                   "service 'api': error_rate"),
    "no-name": (lambda: sl.World().service(""), "a service needs a non-empty name"),
    "max-attempts": (lambda: sl.World().broker("bus", max_attempts=0),
                     "broker 'bus': max_attempts"),
    "redelivery-delay": (lambda: sl.World().broker("bus", redelivery_delay=-1),
                         "broker 'bus': redelivery_delay"),
    "topics-a-number": (lambda: sl.World().broker("bus", topics=5),
                        r"broker 'bus': topics must be a list of names, such as "
                        r"\['orders'\], got 5"),
}


@pytest.mark.parametrize("make, match", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_values_are_refused_with_their_name(make, match):
    with pytest.raises(sl.ModelError, match=match):
        make()


@pytest.mark.parametrize("duration", [0, -1, float("nan"), float("inf")])
def test_load_duration_must_be_positive(duration):
    world = leaf_world()
    with pytest.raises(sl.ModelError, match="load: duration must be a positive"):
        world.load(sl.Poisson(rate=1), target=("api", "get"), duration=duration)


def test_load_target_must_be_a_pair():
    with pytest.raises(sl.ModelError, match=re.escape("('gateway', 'checkout')")):
        leaf_world().load(sl.Poisson(rate=1), target="api.get", duration=1)


@pytest.mark.parametrize("make, match", [
    pytest.param(lambda: sl.World().service("api", work=-1), "service 'api': work", id="work"),
    pytest.param(lambda: sl.World(latency=-0.001), "World: latency", id="latency"),
])
def test_a_negative_time_names_its_owner(make, match):
    """A plain number becomes sl.Constant(...) behind the scenes; the message must still
    name what the learner wrote, not the Constant they never saw."""
    with pytest.raises(sl.ModelError, match=match):
        make()


# -- names: unique, and known


def test_duplicate_service_name():
    world = leaf_world()
    with pytest.raises(sl.ModelError, match="already a service named 'api'"):
        world.service("api")


def test_duplicate_broker_name():
    world = sl.World()
    world.broker("bus")
    with pytest.raises(sl.ModelError, match="already a broker named 'bus'"):
        world.broker("bus")


def test_duplicate_endpoint_name():
    api = sl.World().service("api")

    @api.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()

    with pytest.raises(sl.ModelError, match="service 'api' already has an endpoint 'get'"):
        @api.endpoint("get")
        def get_again(ctx, payload):
            yield ctx.work()


def test_duplicate_consumer_group():
    world = sl.World()
    bus = world.broker("bus", topics=["orders"])
    shipping = world.service("shipping")

    @shipping.consumer(bus, "orders", group="ship")
    def ship(ctx, order):
        yield ctx.work()

    with pytest.raises(sl.ModelError, match="already has a consumer group 'ship'"):
        @shipping.consumer(bus, "orders", group="ship")
        def ship_again(ctx, order):
            yield ctx.work()


def test_consumer_of_an_undeclared_topic():
    world = sl.World()
    bus = world.broker("bus", topics=["orders"])
    with pytest.raises(sl.ModelError, match="has no topic 'ordres'"):
        @world.service("shipping").consumer(bus, "ordres")
        def ship(ctx, order):
            yield ctx.work()


def test_a_consumer_may_name_its_broker():
    """As ``ctx.publish`` does: the broker, or its name."""
    world = sl.World(seed=1)
    world.broker("bus", topics=["orders"])
    front, back = world.service("front", workers=None), world.service("back")

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.work()
        ctx.publish("bus", "orders", payload)

    @back.consumer("bus", "orders")
    def ship(ctx, payload):
        yield ctx.work()

    world.load(sl.Poisson(rate=20), target=("front", "go"), duration=1)
    ledger = world.run().message_ledger()
    assert len(ledger) > 10 and (ledger.state == "acked").all()


@pytest.mark.parametrize("broker, match", [
    ("buss", r"unknown broker 'buss'; pass a broker made with world\.broker\(\.\.\.\) in "
             r"this world, or its name; known brokers: \['bus'\]"),
    (sl.World().broker("bus"), "unknown broker Broker"),  # same name, another world
    (None, "unknown broker None"),
])
def test_a_consumer_of_an_unknown_broker_names_the_known_ones(broker, match):
    world = sl.World()
    world.broker("bus", topics=["orders"])
    with pytest.raises(sl.ModelError, match=match):
        world.service("shipping").consumer(broker, "orders")


def test_more_consumers_than_workers():
    world = sl.World()
    bus = world.broker("bus", topics=["orders"])
    with pytest.raises(sl.ModelError, match="consumer group 'ship': 3 consumers"):
        @world.service("shipping", workers=2).consumer(bus, "orders", group="ship",
                                                       consumers=3)
        def ship(ctx, order):
            yield ctx.work()


def test_unknown_service_in_load_target_fails_at_run():
    world = leaf_world()
    world.load(sl.Poisson(rate=1), target=("apii", "get"), duration=1)
    with pytest.raises(sl.ModelError, match="unknown service 'apii'"):
        world.run()


def test_unknown_endpoint_in_load_target_fails_at_run():
    world = leaf_world()
    world.load(sl.Poisson(rate=1), target=("api", "gett"), duration=1)
    with pytest.raises(sl.ModelError, match="service 'api' has no endpoint 'gett'"):
        world.run()


def test_a_world_without_load_cannot_run():
    world = sl.World()
    world.service("api")
    with pytest.raises(sl.ModelError, match="no load"):
        world.run()


@pytest.mark.parametrize("until", [0, -1])
def test_until_must_be_positive(until):
    with pytest.raises(sl.ModelError, match="until must be a positive"):
        leaf_world().run(until=until)


def test_run_limits_must_be_positive():
    with pytest.raises(sl.ModelError, match="max_events must be a whole number, 1 or more, got 0"):
        leaf_world(max_events=0).run()


# -- handler code: checked when the handler is registered, or when the run meets it


def test_handler_must_be_a_generator():
    api = sl.World().service("api")
    with pytest.raises(sl.ModelError, match="handler 'get' is not a generator function"):
        @api.endpoint("get")
        def get(ctx, payload):
            return 42


def test_consumer_must_be_a_generator():
    world = sl.World()
    bus = world.broker("bus", topics=["orders"])
    with pytest.raises(sl.ModelError, match="handler 'ship' is not a generator function"):
        @world.service("shipping").consumer(bus, "orders")
        def ship(ctx, order):
            pass


def test_call_to_unknown_service():
    def go(ctx, payload):
        yield ctx.call("bakc", "x")

    with pytest.raises(sl.ModelError, match="front calls unknown service 'bakc'"):
        world_with_handler(go).run()


def test_call_to_unknown_endpoint():
    def go(ctx, payload):
        yield ctx.call("back", "y")

    with pytest.raises(sl.ModelError, match="unknown endpoint 'y' of 'back'"):
        world_with_handler(go).run()


def test_call_with_a_bad_timeout():
    def go(ctx, payload):
        yield ctx.call("back", "x", timeout=0)

    with pytest.raises(sl.ModelError, match=re.escape("ctx.call('back', 'x'): timeout")):
        world_with_handler(go).run()


def test_publish_to_unknown_topic():
    world = sl.World(seed=1)
    bus = world.broker("bus", topics=["orders"])
    api = world.service("api")

    @api.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()
        ctx.publish(bus, "ordres", payload)

    world.load(sl.Poisson(rate=20), target=("api", "get"), duration=1)
    with pytest.raises(sl.ModelError, match="has no topic 'ordres'"):
        world.run()


def test_publish_to_unknown_broker():
    def go(ctx, payload):
        yield ctx.sleep(0.01)
        ctx.publish("buss", "orders", payload)

    with pytest.raises(sl.ModelError, match="unknown broker 'buss'"):
        world_with_handler(go).run()


def test_synchronous_call_cycle_is_named():
    world = sl.World(seed=1)
    a, b = world.service("a", workers=None), world.service("b", workers=None)

    @a.endpoint("go")
    def go(ctx, payload):
        yield ctx.call("b", "back", payload)

    @b.endpoint("back")
    def back(ctx, payload):
        yield ctx.call("a", "go", payload)

    world.load(sl.Poisson(rate=20), target=("a", "go"), duration=1)
    with pytest.raises(sl.CallCycleError, match="a -> b -> a"):
        world.run()


def test_a_service_calling_itself_is_a_cycle():
    def go(ctx, payload):
        yield ctx.call("front", "go", payload)

    with pytest.raises(sl.CallCycleError, match="front -> front"):
        world_with_handler(go).run()


def test_an_asynchronous_hop_is_not_a_cycle():
    """front publishes; back's consumer calls front. No request waits on itself: fine."""
    world = sl.World(seed=1)
    front, back = world.service("front", workers=None), world.service("back")
    bus = world.broker("bus", topics=["orders"])

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.sleep(0.01)
        ctx.publish(bus, "orders", payload)

    @front.endpoint("status")
    def status(ctx, payload):
        yield ctx.sleep(0.01)

    @back.consumer(bus, "orders")
    def follow_up(ctx, payload):
        yield ctx.call("front", "status", payload)

    world.load(sl.Poisson(rate=20), target=("front", "go"), duration=1)
    result = world.run()
    assert (result.message_ledger().state == "acked").all()
    assert (result.spans.query("operation == 'status'").status == "ok").all()


def test_handler_bug_becomes_handler_error_with_its_cause():
    def go(ctx, payload):
        yield ctx.sleep(0.01)
        return 1 / 0

    with pytest.raises(sl.HandlerError, match=r"handler front\.go raised ZeroDivisionError") \
            as caught:
        world_with_handler(go).run()
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def test_handler_bug_before_the_first_wait_becomes_handler_error():
    # A request runs inline, in the load's own step, up to its first wait: a bug there
    # must stop the run just the same.
    def go(ctx, payload):
        _ = payload.missing  # an AttributeError, before any yield
        yield ctx.sleep(0.01)

    with pytest.raises(sl.HandlerError, match=r"handler front\.go raised AttributeError") \
            as caught:
        world_with_handler(go).run()
    assert isinstance(caught.value.__cause__, AttributeError)


def test_handler_bug_behind_a_timeout_call_names_the_callee():
    """A call with a timeout runs the callee in its own process; the bug still surfaces."""
    world = sl.World(seed=1)
    front, back = world.service("front", workers=None), world.service("back")

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.call("back", "x", payload, timeout=1.0)

    @back.endpoint("x")
    def x(ctx, payload):
        yield ctx.sleep(0.01)
        return {}["missing"]  # a KeyError

    world.load(sl.Poisson(rate=20), target=("front", "go"), duration=1)
    with pytest.raises(sl.HandlerError, match=r"handler back\.x raised KeyError") as caught:
        world.run()
    assert isinstance(caught.value.__cause__, KeyError)


def test_consumer_bug_becomes_handler_error():
    world = sl.World(seed=1)
    front, back = world.service("front", workers=None), world.service("back")
    bus = world.broker("bus", topics=["orders"])

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.sleep(0.01)
        ctx.publish(bus, "orders", payload)

    @back.consumer(bus, "orders")
    def ship(ctx, payload):
        yield ctx.sleep(0.01)
        return payload.weight  # sl.Payload has only an id

    world.load(sl.Poisson(rate=20), target=("front", "go"), duration=1)
    with pytest.raises(sl.HandlerError, match=r"handler back\.consume orders raised "
                                              "AttributeError") as caught:
        world.run()
    assert isinstance(caught.value.__cause__, AttributeError)


def test_service_error_is_a_business_failure_not_a_bug():
    """``raise sl.ServiceError`` fails the request on purpose; the run goes on."""
    def go(ctx, payload):
        yield ctx.sleep(0.01)
        raise sl.ServiceError("card declined")

    requests = world_with_handler(go).run().requests
    assert (requests.outcome == "error").all()
    assert requests.reason.str.contains("card declined").all()


# -- a step made and never yielded never happens: that is a mistake


def forgets_a_call(ctx, payload):
    yield ctx.work()
    ctx.call("bakc", "x", payload)  # no yield, and a misspelt service: nothing happens


def forgets_a_work_step(ctx, payload):
    ctx.work()
    yield ctx.call("back", "x", payload)


def forgets_a_saga(ctx, payload):
    yield ctx.work()
    ctx.saga(sl.Saga([("back", "x", None)]), payload)


def forgets_a_wait(ctx, payload):
    yield ctx.work()
    ctx.db.wait_for("order", 1)  # no yield: the handler would not wait for the version


def forgets_one_of_two(ctx, payload):
    first = ctx.sleep(0.1)
    second = ctx.call("back", "x", payload)
    yield second
    assert first is not None  # made, kept, never yielded


@pytest.mark.parametrize("handler, step", [
    (forgets_a_call, "ctx.call('bakc', 'x', ...)"),
    (forgets_a_work_step, "ctx.work()"),
    (forgets_a_saga, "ctx.saga(...)"),
    (forgets_a_wait, "ctx.db.wait_for(...)"),
    (forgets_one_of_two, "ctx.sleep(...)"),
])
def test_a_step_made_and_never_yielded_stops_the_run(handler, step):
    with pytest.raises(sl.ModelError, match=re.escape(
            f"handler front.go made {step} and returned without yielding it, so it never "
            f"happened: write `yield {step}`")):
        world_with_handler(handler).run()


def test_a_consumer_that_forgets_to_yield_is_named_too():
    world = sl.World(seed=1)
    front, back = world.service("front", workers=None), world.service("back")
    bus = world.broker("bus", topics=["orders"])

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.work()
        ctx.publish(bus, "orders", payload)

    @back.consumer(bus, "orders")
    def ship(ctx, payload):
        ctx.work()
        yield ctx.sleep(0.01)

    world.load(sl.Poisson(rate=20), target=("front", "go"), duration=1)
    with pytest.raises(sl.ModelError, match=r"handler back\.consume orders made ctx\.work\(\)"):
        world.run()


def starts_a_timer_and_waits_for_it_later(ctx, payload):
    timer = ctx.sleep(0.5)           # starts now ...
    yield ctx.call("back", "x", payload)
    yield timer                      # ... and is waited for after the call


def waits_for_whichever_comes_first(ctx, payload):
    yield ctx.work(0.1) | ctx.sleep(0.2)  # a condition waits on both steps


@pytest.mark.parametrize("handler", [starts_a_timer_and_waits_for_it_later,
                                     waits_for_whichever_comes_first])
def test_a_step_yielded_later_or_in_a_condition_is_fine(handler):
    requests = world_with_handler(handler).run().requests
    assert len(requests) > 10 and (requests.outcome == "ok").all()


def test_yielding_something_that_is_not_an_event():
    def go(ctx, payload):
        yield 0.5  # meant: yield ctx.sleep(0.5)

    with pytest.raises(sl.ModelError, match=r"handler front\.go yielded 0\.5"):
        world_with_handler(go).run()


# -- faults


def test_crash_of_unknown_service():
    with pytest.raises(sl.ModelError, match="crash: unknown service 'apii'"):
        leaf_world().faults.crash("apii", at=1, duration=1)


def test_overlapping_crashes():
    world = leaf_world()
    world.faults.crash("api", at=1, duration=2)
    with pytest.raises(sl.ModelError, match=re.escape("crash('api', at=2.5, duration=1) "
                                                      "overlaps crash('api', at=1, duration=2)")):
        world.faults.crash("api", at=2.5, duration=1)


@pytest.mark.parametrize("at, duration, match", [
    (-1, 1, "crash: at must be a non-negative"),
    (1, 0, "crash: duration must be a positive"),
])
def test_crash_times(at, duration, match):
    with pytest.raises(sl.ModelError, match=match):
        leaf_world().faults.crash("api", at=at, duration=duration)


# -- runaways stop at a limit


def test_endless_loop_stops_at_max_events():
    def go(ctx, payload):
        while True:
            yield ctx.sleep(0)

    with fails_if_it_hangs(10), pytest.raises(sl.RunLimitError, match="max_events=20,000"):
        world_with_handler(go, max_events=20_000).run()


def test_retry_storm_with_timeouts_stops_at_max_events():
    def go(ctx, payload):
        while True:  # retry at once, forever
            try:
                yield ctx.call("back", "x", payload, timeout=0.01)
                return
            except sl.CallError:
                pass

    world = world_with_handler(go, max_events=50_000)
    world.faults.crash("back", at=0.1, duration=1000)
    with fails_if_it_hangs(10), pytest.raises(sl.RunLimitError, match="retry storm"):
        world.run()


def test_too_long_a_run_stops_at_max_seconds():
    world = leaf_world(max_seconds=0.05)
    world.load(sl.Poisson(rate=10_000), target=("api", "get"), duration=100)
    with fails_if_it_hangs(10), pytest.raises(sl.RunLimitError, match="wall-clock"):
        world.run()


def test_retry_storm_against_a_dead_service_stops_at_a_limit():
    def go(ctx, payload):
        while True:  # retry at once, forever, without a timeout
            try:
                yield ctx.call("back", "x", payload)
                return
            except sl.CallError:
                pass

    # The refused call takes no simulated time, so the loop never gives SimPy an event
    # to count: the limit has to come from the handler's own steps.
    world = world_with_handler(go, max_events=20_000, max_seconds=1)
    world.faults.crash("back", at=0.1, duration=1000)
    with fails_if_it_hangs(10), \
            pytest.raises(sl.RunLimitError, match=r"handler front\.go took .* without time"):
        world.run()


def test_users_with_no_think_time_and_instant_answers_are_stopped():
    # Each answer comes at once and the user sends again at once: time never passes.
    world = sl.World(seed=1, max_seconds=30)
    front = world.service("front", workers=None)

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.work(0)

    world.load(sl.Users(n=1, think=0.0), target=("front", "go"), duration=1)
    with fails_if_it_hangs(20), pytest.raises(
            sl.RunLimitError, match=r"a user of load .* sent 20,000 requests at t=0\.000 s "
                                    r"without time passing: give the users a think time"):
        world.run()


def frames_of(error):
    """The local variables of every frame the error went through."""
    tb = error.__traceback__
    while tb is not None:
        yield tb.tb_frame.f_locals
        tb = tb.tb_next


def test_requests_piling_up_stop_at_max_records():
    """Far more load than two workers can take: the queue grows without bound. The run
    stops early, says why, and lets its records go at once."""
    world = leaf_world(max_records=50_000)
    world.load(sl.Poisson(rate=10_000), target=("api", "get"), duration=100)
    with fails_if_it_hangs(10), pytest.raises(sl.RunLimitError, match=(
            r"the run kept too much: .* records and [\d,]+ requests in flight at t=.* "
            r"\(max_records=50,000, about 250 bytes each\)\. [\d,]+ requests are waiting "
            r"for an answer \(each counts as 5 records\): more load than the services can "
            r"handle\. Lower the load")) as caught:
        world.run()
    runs = [f["self"] for f in frames_of(caught.value) if type(f.get("self")).__name__ == "Run"]
    assert runs and runs[0].recorder.count() == 0  # no Result will hold them: gone


def test_a_long_run_stops_at_max_records():
    """No pile-up here (unlimited workers), just many records: shorten the run."""
    world = sl.World(seed=1, max_records=50_000)
    api = world.service("api", workers=None, work=sl.Exp(mean=0.01))

    @api.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()

    world.load(sl.Poisson(rate=1_000), target=("api", "get"), duration=1000)
    with fails_if_it_hangs(10), pytest.raises(
            sl.RunLimitError, match=r"Shorten the run \(duration\) or lower the load \(rate\); "
                                    r"or raise World\(max_records=\.\.\.\)"):
        world.run()


def test_max_records_leaves_a_run_below_it_alone():
    world = leaf_world(max_records=1_000)
    result = world.run()  # 20 requests a second for 1 s: far fewer records
    assert (result.requests.outcome == "ok").all()
