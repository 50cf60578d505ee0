"""Components: the long-lived parts of a run, and how a run knows that it is over.

A run is made of components: its loads, its consumer groups, its outbox relays, its
samplers, its faults (and whatever comes next: a deploy pipeline, an autoscaler). The
run starts each one, and asks each whether it is **idle**: whether it has nothing left
to do that the run must wait for. When every component is idle the run has drained.

A component that acts on a clock of its own, for as long as the run lasts (a sampler of
queue lengths), is ``Periodic``: it acts every ``every`` seconds and stops by itself once
the run has drained. So a new component needs no change anywhere else: no counter in
the run, no process to stop.
"""

import math

from simpy.events import Timeout


class Component:
    """A part of a run that the run starts, and asks whether it is idle."""

    def start(self, run):
        """Begin: start the component's SimPy processes (``run.start_process``)."""

    def idle(self):
        """True when it has nothing left to do that the run must wait for."""
        return True


class Task(Component):
    """A component that is one SimPy process, made by ``make(run)`` (a replay at a given
    time, a scaling); it does not hold the run open."""

    def __init__(self, make):
        self.make = make

    def start(self, run):
        run.start_process(self.make(run))


class Periodic(Component):
    """A component that acts every ``every`` seconds while the run has not drained."""

    def __init__(self, every):
        self.every = every

    def start(self, run):
        run.clock.add(self)

    def tick(self, now):
        """Act, at time ``now``."""
        raise NotImplementedError


class Clock:
    """One SimPy process drives every periodic component of a run.

    One process, not one per component: it stops when nothing else will ever happen
    (SimPy's queue holds no event but its own), which two processes, each seeing the
    other's next tick, could never tell.
    """

    def __init__(self, run):
        self.run = run
        self.due = []  # [next time, order added, component]
        self.process = None

    def add(self, component):
        self.due.append([self.run.env.now, len(self.due), component])
        if self.process is None:
            self.process = self.run.start_process(self._run())

    def _run(self):
        env = self.run.env
        while True:
            self.due.sort()
            ticked = None
            while self.due[0][0] <= env.now:
                ticked = self.due[0]
                ticked[2].tick(env.now)
                ticked[0] = env.now + ticked[2].every
                self.due.sort()
            if self.run.drained:
                return
            if env.peek() == math.inf:
                return  # nothing else will ever happen: what is left is stuck (a deadlock)
            # Wait exactly ``every`` after a tick (now + every - now may differ by a bit).
            following = self.due[0]
            yield Timeout(env, following[2].every if following is ticked
                          else following[0] - env.now)
