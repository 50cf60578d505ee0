"""Components: the long-lived parts of a run, what they may touch, and how a run knows
that it is over.

A run is made of components: its loads, its consumer groups, its outbox relays, its
samplers, its faults, its deployer and pipelines (and whatever comes next: an
autoscaler). The run starts each one, and asks each whether it is **idle**: whether it
has nothing left to do that the run must wait for. When every component is idle the run
has drained.

A component that acts on a clock of its own, for as long as the run lasts (a sampler of
queue lengths), is ``Periodic``: it acts every ``every`` seconds and stops by itself once
the run has drained. So a new component needs no change anywhere else: no counter in
the run, no process to stop.

**Handles, not the run.** A component is started with ``start(handles)``: the few
narrow things of the run it may use (``Handles``), never the run itself. So a learner
or an extender sees from the signature what a part may touch, and no part changes
another's state behind the run's back: the brokers' state belongs to ``messaging``,
the network's to ``network``, and each offers the few operations that change it.
"""

import math

from simpy.events import Timeout


class Handles:
    """What a component of a run receives (``Component.start``, ``Task``'s ``make``,
    ``World.add_component``'s ``make``). The run builds them once and gives every
    component the same ones.

    Why these and not the run: the signature of a part then says all it may touch, and
    what it changes it changes through the object that owns it (a broker outage through
    ``messaging.take_down``, not by editing a table of the run), so no part can change
    another's state behind the run's back. The engine (``Station``, ``simlab.calls``)
    keeps its own references to what it needs, bound once for speed.

    The clock, the dice and the pen:

    * ``env``: the SimPy environment, the clock (``env.now``, ``env.timeout(...)``,
      ``env.event()``).
    * ``streams``: the run's seeded random streams (``simlab.randomness.Streams``):
      ``streams.stream(name)`` a fresh one, ``streams.shared(name)`` the one of that name
      in the run. Every draw comes from one, so the same seed gives the same run.
    * ``recorder``: the one writer of records (``simlab.telemetry.Recorder``):
      ``recorder.log(...)``, ``recorder.<table>.add(...)``.

    The run's lifecycle:

    * ``start_process(generator)``: run a generator as a SimPy process of the run.
    * ``periodic(component)``: have a ``Periodic`` component ticked until the run drains.
    * ``warn(service, message)``: tell the learner something unexpected, without stopping
      the run (a log line, and a Python warning when ``World.run`` returns).
    * ``drained()``: True when every component of the run is idle.

    The model a component acts on, each part owned by one object:

    * ``services``: the live services (``simlab.services.Station``) by name, read-only;
      a service's store is ``services[name].store``.
    * ``messaging``: the brokers (``simlab.messaging.Messaging``): topics and consumer
      groups, outages, dead letters; ``publish``, ``group_state``, ``take_down``...
    * ``network``: the partitions and lossy links in force (``simlab.network.Network``):
      ``cut``, ``heal``, ``drops``.
    * ``send_request(sending, station, endpoint, make_payload, timeout)``: send one
      external request from a load (see ``simlab.load``).
    * ``deployer``: the run's deployer (``simlab.delivery.deploy.Deployer``), or None
      when the world deploys with no strategy.
    """

    __slots__ = ("env", "streams", "recorder", "start_process", "periodic", "warn", "drained",
                 "services", "messaging", "network", "send_request", "deployer")

    def __init__(self, *, env, streams, recorder, start_process, periodic, warn, drained,
                 services, messaging, network, send_request, deployer):
        self.env, self.streams, self.recorder = env, streams, recorder
        self.start_process, self.periodic, self.warn, self.drained = (start_process, periodic,
                                                                      warn, drained)
        self.services, self.messaging, self.network = services, messaging, network
        self.send_request, self.deployer = send_request, deployer

    def __repr__(self):
        return f"Handles({', '.join(self.__slots__)})"


class Component:
    """A part of a run that the run starts, and asks whether it is idle."""

    def start(self, handles):
        """Begin: start the component's SimPy processes (``handles.start_process``)."""

    def idle(self):
        """True when it has nothing left to do that the run must wait for."""
        return True


class Task(Component):
    """A component that is one SimPy process, made by ``make(handles)`` (a fault, a replay
    at a given time, a scaling); it does not hold the run open."""

    def __init__(self, make):
        self.make = make

    def start(self, handles):
        handles.start_process(self.make(handles))


class Periodic(Component):
    """A component that acts every ``every`` seconds while the run has not drained."""

    def __init__(self, every):
        self.every = every

    def start(self, handles):
        handles.periodic(self)

    def tick(self, now):
        """Act, at time ``now``."""
        raise NotImplementedError


class Clock:
    """One SimPy process drives every periodic component of a run.

    One process, not one per component: it stops when nothing else will ever happen
    (SimPy's queue holds no event but its own), which two processes, each seeing the
    other's next tick, could never tell. It also stops once ``drained()`` says that
    every component of the run is idle.
    """

    def __init__(self, env, start_process, drained):
        self.env = env
        self.start_process = start_process
        self.drained = drained
        self.due = []  # [next time, order added, component]
        self.process = None

    def add(self, component):
        self.due.append([self.env.now, len(self.due), component])
        if self.process is None:
            self.process = self.start_process(self._run())

    def _run(self):
        env = self.env
        while True:
            self.due.sort()
            ticked = None
            while self.due[0][0] <= env.now:
                ticked = self.due[0]
                ticked[2].tick(env.now)
                ticked[0] = env.now + ticked[2].every
                self.due.sort()
            if self.drained():
                return
            if env.peek() == math.inf:
                return  # nothing else will ever happen: what is left is stuck (a deadlock)
            # Wait exactly ``every`` after a tick (now + every - now may differ by a bit).
            following = self.due[0]
            yield Timeout(env, following[2].every if following is ticked
                          else following[0] - env.now)
