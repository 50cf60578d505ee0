"""Faults (the nemesis): break things on a schedule.

``world.faults.crash("payments", at=40, duration=10)`` takes payments down at t=40 s and
restarts it at t=50 s. While it is down:

* calls to it fail at once with an error (connection refused);
* requests waiting in its queue fail at once;
* requests it was working on fail at their next step (when their current ``ctx.work()``
  or call ends): the thread died, its answer never comes;
* its consumers stop taking messages; a message being handled is delivered again later.

At restart it comes back with all its workers free and an empty queue.
"""

from simpy.events import Timeout

from .errors import ModelError


class Crash:
    """One crash of one service, from ``at`` for ``duration`` seconds."""

    def __init__(self, service, at, duration):
        self.service = service
        self.at = at
        self.duration = duration

    @property
    def end(self):
        return self.at + self.duration

    def __repr__(self):
        return f"Crash({self.service!r}, at={self.at}, duration={self.duration})"

    def inject(self, run):
        """Generator (a process): crash, wait, restart; the fault is recorded."""
        station = run.stations[self.service]
        yield Timeout(run.env, self.at)
        station.crash()
        record = ["crash", self.service, run.env.now, None]
        run.recorder.faults.append(record)
        run.recorder.log(None, None, self.service, "error", f"{self.service} crashed")
        yield Timeout(run.env, self.duration)
        station.restart()
        record[3] = run.env.now
        run.recorder.log(None, None, self.service, "info", f"{self.service} restarted")


def _check_time(what, value, positive):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value < 0 or (positive and value == 0) or value == float("inf"):
        need = "a positive" if positive else "a non-negative"
        raise ModelError(f"crash: {what} must be {need} number of seconds, got {value!r}")


class Faults:
    """The fault schedule of a world (``world.faults``)."""

    def __init__(self, world):
        self.world = world
        self.scheduled = []

    def crash(self, service, at, duration):
        """Crash ``service`` at time ``at`` for ``duration`` seconds."""
        self.world.check_service(service, "crash")
        _check_time("at", at, positive=False)
        _check_time("duration", duration, positive=True)
        for other in self.scheduled:
            if other.service == service and at < other.end and other.at < at + duration:
                raise ModelError(f"crash of {service!r} at {at} for {duration} s overlaps {other};"
                                 " merge them into one longer crash")
        fault = Crash(service, at, duration)
        self.scheduled.append(fault)
        return fault
