"""The engine stands on SimPy's public API only, so a SimPy release cannot break it
silently; pyproject.toml pins SimPy to the versions the tests cover."""

import ast
import re
from pathlib import Path

import networkx as nx

import simlab as sl

SOURCES = sorted((Path(sl.__file__).parent).rglob("*.py"))
# Fields SimPy keeps private on its events, processes and environment.
PRIVATE = re.compile(r"\.(_now|_ok|_value|_defused|_resume|_target|_generator|_queue|_eid"
                     r"|_active_proc|_triggered)\b")


def test_no_private_field_of_simpy_is_touched():
    found = [f"{path.name}:{number}: {line.strip()}"
             for path in SOURCES
             for number, line in enumerate(path.read_text().splitlines(), start=1)
             if PRIVATE.search(line)]
    assert not found, "SimPy's private fields used:\n" + "\n".join(found)


def test_the_pattern_finds_what_it_is_meant_to():
    assert PRIVATE.search("event._ok, event._value = True, None")
    assert PRIVATE.search("now = env._now")
    assert not PRIVATE.search("now = env.now; event.ok; process.defused = True")


def imports_between_modules():
    """The directed graph of simlab's modules: an edge for each ``from . import``."""
    root = Path(sl.__file__).parent

    def module(path):
        parts = path.relative_to(root.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {module(path) for path in SOURCES}
    graph = nx.DiGraph()
    for path in SOURCES:
        here = module(path)
        package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.level):
                continue
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
            target = f"{base}.{node.module}" if node.module else base
            submodules = [f"{target}.{a.name}" for a in node.names
                          if f"{target}.{a.name}" in modules]
            for imported in submodules or [target]:
                graph.add_edge(here, imported)
    return graph


def test_the_modules_import_each_other_without_a_cycle():
    graph = imports_between_modules()
    assert graph.has_edge("simlab.services", "simlab.calls")  # the graph is really built
    assert list(nx.simple_cycles(graph)) == []


def test_a_run_and_an_export_look_for_cycles_rarely_and_give_the_thresholds_back(tmp_path):
    import gc

    import simlab as sl
    seen = []
    world = sl.World(seed=1)
    api = world.service("api", work=sl.Exp(mean=0.01))

    @api.endpoint("get")
    def get(ctx, request):
        seen.append((gc.isenabled(), gc.get_threshold()[0]))
        yield ctx.work()

    world.load(sl.Poisson(rate=20), target=("api", "get"), duration=1)
    before = gc.get_threshold()
    result = world.run()
    assert seen and all(state == (True, 100_000) for state in seen)
    assert gc.get_threshold() == before and gc.isenabled()
    result.export(tmp_path)
    assert gc.get_threshold() == before and gc.isenabled()
