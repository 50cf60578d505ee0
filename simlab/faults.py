"""Faults (the nemesis): break things on a schedule, fixed or random from the world's seed.

Every fault has a start ``at`` and a ``duration`` (seconds), is listed in
``result.faults`` and shaded on every time plot.

* ``crash(service)`` — down, then restarted. While down: calls to it fail at once
  (connection refused); requests in its queue fail at once; requests it was working on
  fail at once too, in the middle of whatever they were doing (their thread died), so
  their callers hear of it at the instant of the crash (a callee working for one of
  them runs on, and its answer goes nowhere: see ``simlab.calls``); its consumers stop,
  and a message being handled is delivered again later. At restart all its workers are
  free again. Its store is durable: what it wrote survives.
* ``slowdown(service, factor)`` — every ``ctx.work()`` takes ``factor`` times longer.
* ``errors(service, probability)`` — each request it serves fails with that probability.
* ``partition(side, other_side)`` — calls between the two groups of services are lost:
  the caller hears nothing, and waits until its timeout (or for ever, if it has none).
* ``message_loss(service, other, probability)`` — each hop between the two is lost with
  that probability, with the same consequence.
* ``broker_outage(broker, publishers="fail" | "buffer")`` — nothing is delivered; a
  publish fails (the handler sees ``sl.CallError``) or is held in the publisher's memory
  (a log line says so) and sent when the broker is back — unless the publisher crashes
  first. A held message enters ``result.messages`` when it is sent. (An outbox's events
  are not held in memory: they wait in the outbox, which is durable, until the broker
  is back; see ``simlab.outbox``.)
* ``random(kind, targets, count, duration, within)`` — a random schedule of crashes or
  slowdowns, drawn at run start from the world's seed (so each seed has its own).

Two faults of one kind on one target must not overlap, but may meet back to back (one
starting the instant the other ends, within float rounding): they act as one long fault.

**Faults outside the load.** A fault is part of the model, so it is played as scheduled,
and never silently dropped:

* without ``until``, the run goes on until every fault has ended. A fault that begins
  after the load has ended and everything has drained is still played (the run
  stretches for it alone), with a ``sl.SimlabWarning`` saying so;
* with ``run(until=...)``, a fault that would begin at or after ``until`` never happens;
  a warning says so too. (One that begins before and ends after is listed with no end.)

Each warning is also a line in ``result.logs``.

A fault acts through the handles the run gives it (``simlab.components.Handles``): a
crash or a setting on ``services``, a partition or a lossy link on ``network``, a broker
outage on ``messaging``. Its ``start`` and ``stop`` take those handles.
"""

import math

from simpy.events import Timeout

from . import checks
from .errors import ModelError


class Fault:
    """One scheduled fault: what, on which target, from ``at`` for ``duration`` seconds."""

    kind = "fault"

    def __init__(self, target, at, duration):
        self.target = target
        self.at = at
        self.duration = duration

    @property
    def end(self):
        return self.at + self.duration

    def __repr__(self):
        return f"{self.kind}({self.target!r}, at={self.at:g}, duration={self.duration:g})"

    def inject(self, handles):
        """Generator (a process): start, wait, stop; the fault is recorded."""
        env, recorder = handles.env, handles.recorder
        yield Timeout(env, self.at)
        if handles.drained():  # everything else is over: this fault alone keeps the run going
            handles.warn(str(self.target), f"{self!r} begins after the load ended and "
                         f"everything drained: the run goes on until it ends, at {self.end:g}"
                         " s. Move it into the load, or stop the run earlier with "
                         "run(until=...)")
        self.start(handles)
        record = recorder.faults.add(fault=self.kind, target=str(self.target),
                                     start=env.now, end=math.nan)
        recorder.log(None, None, str(self.target), "error", f"fault begins: {self!r}")
        yield Timeout(env, self.duration)
        self.stop(handles)
        recorder.faults.set(record, end=env.now)
        recorder.log(None, None, str(self.target), "info", f"fault ends: {self!r}")


class Crash(Fault):
    kind = "crash"

    def start(self, handles):
        handles.services[self.target].crash()
        # Publishes it held back during a broker outage were in its memory: gone.
        for lost in handles.messaging.drop_held(self.target):
            handles.recorder.log(None, None, self.target, "error",
                                 f"{lost} held publishes lost in the crash")

    def stop(self, handles):
        handles.services[self.target].restart()


class Setting(Fault):
    """A fault that overrides one setting of a service for its window.

    Faults of one kind on one target may meet back to back (or, fixed and random ones,
    overlap): the latest in force rules, and when none is left the service's own value
    is back.
    """

    setting = None  # the Station attribute it overrides

    def __init__(self, target, at, duration, value):
        super().__init__(target, at, duration)
        self.value = value

    def start(self, handles):
        station = handles.services[self.target]
        station.overrides.setdefault(self.setting, []).append(self)
        setattr(station, self.setting, self.value)

    def stop(self, handles):
        station = handles.services[self.target]
        in_force = station.overrides[self.setting]
        in_force.remove(self)
        setattr(station, self.setting, in_force[-1].value if in_force else self.normal(station))


class Slowdown(Setting):
    """Every ``ctx.work()`` takes ``value`` times longer."""

    kind = "slowdown"
    setting = "slowdown"

    def normal(self, station):
        return 1.0


class Errors(Setting):
    """Each request fails with probability ``value``."""

    kind = "errors"
    setting = "error_rate"

    def normal(self, station):
        return station.service.error_rate


class Partition(Fault):
    kind = "partition"

    def __init__(self, sides, at, duration):
        super().__init__(f"{'+'.join(sides[0])} | {'+'.join(sides[1])}", at, duration)
        self.sides = sides

    def start(self, handles):
        handles.network.cut(self)

    def stop(self, handles):
        handles.network.heal(self)

    def drops(self, streams, source, target):
        """Is a hop from ``source`` to ``target`` lost? (``streams``: the run's.)"""
        one, other = self.sides
        return (source in one and target in other) or (source in other and target in one)


class MessageLoss(Partition):
    kind = "message_loss"

    def __init__(self, link, at, duration, probability):
        Fault.__init__(self, f"{link[0]} <-> {link[1]}", at, duration)
        self.sides = ((link[0],), (link[1],))
        self.probability = probability

    def drops(self, streams, source, target):
        return super().drops(streams, source, target) and \
            streams.shared(f"link:{self.target}").random() < self.probability


class BrokerOutage(Fault):
    kind = "broker_outage"

    def __init__(self, target, at, duration, publishers):
        super().__init__(target, at, duration)
        self.publishers = publishers

    def start(self, handles):
        handles.messaging.take_down(self.target, self.publishers)

    def stop(self, handles):
        # When no outage is left, what publishers held back goes out now, in order.
        handles.messaging.bring_back(self.target)


class RandomFaults:
    """A random schedule of ``count`` faults per target, drawn at the start of each run."""

    def __init__(self, kind, targets, count, duration, within, factor):
        self.kind, self.targets, self.count = kind, targets, count
        self.duration, self.within, self.factor = duration, within, factor

    def draw(self, streams, index):
        faults = []
        for target in self.targets:
            rng = streams.stream(f"faults:random:{index}:{self.kind}:{target}")
            end_of_last = self.within[0]
            starts = sorted(rng.uniform(*self.within) for _ in range(self.count))
            for at in starts:
                length = rng.uniform(*self.duration)
                if at < end_of_last:
                    continue  # would overlap the previous one: skip it
                fault = Crash(target, at, length) if self.kind == "crash" else \
                    Slowdown(target, at, length, self.factor)
                faults.append(fault)
                end_of_last = fault.end
        return faults


def _overlap(one, other):
    """Do two fault windows overlap? Windows that meet back to back do not, even when float
    rounding makes them overlap by a hair: 1.0 + 0.656 is 1.6560000000000001, yet a fault
    at 1.656 is meant to start the instant the first one ends. (At run time the two then
    overlap for that hair, which every fault handles: see ``Station.crash``.)"""
    def meet(first, second):
        return math.isclose(first.end, second.at, rel_tol=1e-9, abs_tol=1e-12)

    return one.at < other.end and other.at < one.end and not meet(one, other) \
        and not meet(other, one)


class Faults:
    """The fault schedule of a world (``world.faults``)."""

    def __init__(self, world):
        self.world = world
        self.scheduled = []
        self.random_schedules = []

    def _add(self, fault):
        checks.seconds(fault.kind, "at", fault.at)
        checks.seconds(fault.kind, "duration", fault.duration, positive=True)
        for other in self.scheduled:
            if other.kind == fault.kind and other.target == fault.target \
                    and _overlap(fault, other):
                raise ModelError(f"{fault!r} overlaps {other!r}: two faults of one kind on one "
                                 "target must not overlap; merge them or move one")
        self.scheduled.append(fault)
        return fault

    def crash(self, service, at, duration):
        """Crash ``service`` at time ``at``; it restarts ``duration`` seconds later."""
        self.world.check_service(service, "crash")
        return self._add(Crash(service, at, duration))

    def slowdown(self, service, at, duration, factor=10.0):
        """Make every ``ctx.work()`` of ``service`` take ``factor`` times longer."""
        self.world.check_service(service, "slowdown")
        checks.positive("slowdown", "factor", factor)
        return self._add(Slowdown(service, at, duration, float(factor)))

    def errors(self, service, at, duration, probability=1.0):
        """Fail each request ``service`` serves with ``probability``."""
        self.world.check_service(service, "errors")
        checks.probability("errors", "probability", probability)
        return self._add(Errors(service, at, duration, float(probability)))

    def partition(self, side, other_side, at, duration):
        """Cut the network between two groups of services (lists of names)."""
        if isinstance(side, str) or isinstance(other_side, str):
            raise ModelError("partition: give each side as a list of service names, such as "
                             f"['orders'] and ['payments']; got {side!r} and {other_side!r}")
        sides = (tuple(side), tuple(other_side))
        for name in sides[0] + sides[1]:
            self.world.check_service(name, "partition")
        if not sides[0] or not sides[1] or set(sides[0]) & set(sides[1]):
            raise ModelError("partition: give two non-empty groups of services with no service "
                             f"in both; got {list(sides[0])} and {list(sides[1])}")
        return self._add(Partition(sides, at, duration))

    def message_loss(self, service, other, at, duration, probability=0.1):
        """Lose each hop between ``service`` and ``other`` with ``probability``."""
        for name in (service, other):
            self.world.check_service(name, "message_loss")
        checks.probability("message_loss", "probability", probability)
        return self._add(MessageLoss((service, other), at, duration, float(probability)))

    def broker_outage(self, broker, at, duration, publishers="fail"):
        """Take ``broker`` down: no deliveries; publishes fail or are held ("buffer")."""
        if not isinstance(broker, str) or broker not in self.world.brokers:
            raise ModelError(f"broker_outage: unknown broker {broker!r}; known brokers: "
                             f"{sorted(self.world.brokers)}")
        if publishers not in ("fail", "buffer"):
            raise ModelError(f"broker_outage: publishers must be 'fail' or 'buffer', "
                             f"got {publishers!r}")
        return self._add(BrokerOutage(broker, at, duration, publishers))

    def random(self, kind, targets, count=3, duration=(1.0, 5.0), within=(0.0, 60.0),
               factor=10.0):
        """A random schedule: up to ``count`` faults of ``kind`` ("crash" or "slowdown") per
        target, lengths uniform in ``duration``, starts uniform in ``within`` (seconds)."""
        if kind not in ("crash", "slowdown"):
            raise ModelError(f"random faults: kind must be 'crash' or 'slowdown', got {kind!r}")
        if isinstance(targets, str):
            raise ModelError(f"random faults: targets must be a list of service names, such as "
                             f"[{targets!r}]; got {targets!r}")
        count = checks.count("random faults", "count", count)
        checks.positive("random faults", "factor", factor)
        for name in targets:
            self.world.check_service(name, "random faults")
        duration = checks.pair_of_seconds("random faults", "duration", duration, positive=True)
        within = checks.pair_of_seconds("random faults", "within", within)
        self.random_schedules.append(RandomFaults(kind, list(targets), count, duration, within,
                                                  factor))

    def crash_targets(self):
        """The services a crash (fixed or random) is scheduled for."""
        fixed = {fault.target for fault in self.scheduled if fault.kind == "crash"}
        drawn = {target for schedule in self.random_schedules if schedule.kind == "crash"
                 for target in schedule.targets}
        return fixed | drawn

    def all(self, streams):
        """The fixed faults and this run's draw of the random ones (from its ``streams``)."""
        drawn = [fault for index, schedule in enumerate(self.random_schedules)
                 for fault in schedule.draw(streams, index)]
        return self.scheduled + drawn
