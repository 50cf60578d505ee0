"""Components: the run starts every part, and ends when every one of them is idle."""

import pytest

import simlab as sl
from simlab.components import Component, Periodic


def small_world(seed=1):
    world = sl.World(seed=seed, sample_every=0.5)
    svc = world.service("svc", workers=1, work=sl.Exp(mean=0.01))

    @svc.endpoint("go")
    def go(ctx, payload):
        yield ctx.work()

    world.load(sl.Poisson(rate=20), target=("svc", "go"), duration=2)
    return world


class Busy(Component):
    """Works until ``until`` (a deploy that takes that long, say)."""

    def __init__(self, until):
        self.until, self.done = until, False

    def start(self, handles):
        handles.start_process(self.work(handles.env))

    def work(self, env):
        yield env.timeout(self.until)
        self.done = True

    def idle(self):
        return self.done


class Ticks(Periodic):
    def __init__(self, every):
        super().__init__(every)
        self.times = []

    def tick(self, now):
        self.times.append(now)


def test_a_periodic_component_of_ones_own_stops_when_the_run_has_drained():
    world = small_world()
    ticks = Ticks(0.25)
    world.add_component(lambda handles: ticks)
    result = world.run()
    assert ticks.times[0] == 0.0 and len(ticks.times) > 8
    # It ticked while the run went on, and not once after: no RunLimitError, no tail.
    assert ticks.times[-1] <= result.end_time < ticks.times[-1] + 0.25
    assert result.queues.time.max() <= result.end_time


def test_the_run_waits_for_a_component_that_is_not_idle_yet():
    plain = small_world().run()
    world = small_world()
    ticks = Ticks(1.0)
    world.add_component(lambda handles: Busy(until=6.0))
    world.add_component(lambda handles: ticks)
    held = world.run()
    assert plain.end_time < 3 and held.end_time == 6.0
    # The samplers went on while it worked: the run asked it, not only the load.
    assert ticks.times == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert held.queues.time.max() == 6.0
    # The model's own records are the same: a component only adds.
    assert plain.requests.equals(held.requests)


def test_a_component_that_is_not_a_function_is_refused():
    with pytest.raises(sl.ModelError, match="add_component"):
        small_world().add_component(Ticks(1.0))
