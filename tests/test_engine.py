"""The engine stands on SimPy's public API only, so a SimPy release cannot break it
silently; pyproject.toml pins SimPy to the versions the tests cover."""

import re
from pathlib import Path

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
