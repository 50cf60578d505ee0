"""Components: the run starts every part, and ends when every one of them is idle."""

import ast
from pathlib import Path

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


# -- handles, not the run

#: What every component gets (simlab.components.Handles), and nothing more.
HANDLES = {"env", "streams", "recorder", "start_process", "periodic", "warn", "drained",
           "services", "messaging", "network", "send_request", "deployer"}


class Looks(Component):
    """Keeps the handles it is started with, and uses a few of them."""

    def __init__(self, handles):
        self.made_with = handles
        self.started_with = None
        self.draw = handles.streams.stream("looks").random()

    def start(self, handles):
        self.started_with = handles
        handles.recorder.log(None, None, "svc", "info", f"looks at t={handles.env.now:g}")


def test_a_component_gets_the_documented_handles_and_not_the_run():
    from simlab.components import Handles
    from simlab.runtime import Run

    world = small_world()
    parts = []
    world.add_component(lambda handles: parts.append(Looks(handles)) or parts[-1])
    result = world.run()
    handles = parts[0].made_with
    assert parts[0].started_with is handles and isinstance(handles, Handles)
    assert set(Handles.__slots__) == HANDLES
    for name in HANDLES:  # each one is documented where a learner looks for it
        assert f"``{name}" in Handles.__doc__, name
        assert not isinstance(getattr(handles, name), Run), name
    assert not hasattr(handles, "world") and not hasattr(handles, "__dict__")
    # The live services can be read, not replaced.
    assert list(handles.services) == ["svc"]
    with pytest.raises(TypeError):
        handles.services["svc"] = None
    assert handles.deployer is None  # this world deploys nothing
    assert "looks at t=0" in set(result.logs.message)
    # Its stream is the run's: the same seed, the same draw.
    again = []
    other = small_world()
    other.add_component(lambda handles: again.append(Looks(handles)) or again[-1])
    other.run()
    assert again[0].draw == parts[0].draw


def component_modules():
    """The modules of simlab that define a component (a class based on ``Component`` or
    ``Periodic``) or the processes of one (faults, replays, scalings), but not the run."""
    root = Path(sl.__file__).parent
    found = {root / "faults.py", root / "consumers.py", root / "scenarios" / "release.py"}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(base, "id", None) in ("Component", "Periodic") for base in node.bases):
                found.add(path)
    return found - {root / "runtime.py", root / "world.py"}


def uses_of_the_run(path):
    """Lines of ``path`` that name a ``run`` (a parameter, a variable, an attribute)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.arg) and node.arg == "run" or \
                isinstance(node, ast.Name) and node.id == "run" or \
                isinstance(node, ast.Attribute) and node.attr == "run":
            lines.append(f"{path.name}:{node.lineno}")
    return lines


def test_no_component_holds_the_run():
    """The rule stays: a part of the run is given handles, never the ``Run``."""
    names = {path.name for path in component_modules()}
    assert {"consumers.py", "faults.py", "load.py", "outbox.py", "sampler.py", "components.py",
            "deploy.py", "alerts.py", "pipeline.py"} <= names
    found = [line for path in sorted(component_modules()) for line in uses_of_the_run(path)]
    assert not found, "a component reaches for the run:\n" + "\n".join(found)


def test_the_scan_finds_a_run_where_there_is_one(tmp_path):
    holder = tmp_path / "holder.py"
    holder.write_text("class Holder(Component):\n    def __init__(self, run):\n"
                      "        self.run = run\n")
    assert uses_of_the_run(holder) == ["holder.py:2", "holder.py:3", "holder.py:3"]
