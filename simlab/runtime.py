"""One run of a world: the SimPy environment, the random streams and the live state.

``World.run()`` makes a fresh ``Run`` each time, so runs never share state: the same
seed gives the same records, byte for byte.

To follow one request, read in this order: ``World.run`` makes the run and calls
``Run.start``, which starts each component; a load's (``load.Sending.start``) runs
``Load.generate``, which calls ``Run.request`` (its ``send_request`` handle) for each
arrival: its row of ``result.requests`` is added there, and the entry service's
``Station.serve`` begins (``_open_span``, a free worker or ``_admit``, ``_run_handler``:
its calls go through ``calls.make_call`` to the callee's ``serve``). When the answer
comes, ``Run._answered`` writes the row's end and outcome.

To follow one message: ``Context.publish`` calls ``Run.publish`` (the brokers'
``Messaging.publish``, see ``simlab.messaging``), which records the
"publish" row of ``result.messages`` and gives the message to each consumer group
(``GroupState.put``); a consumer (``consumers.consume``) takes it, records "deliver"
(``GroupState.deliver``), runs the handler through ``Station.serve``, and records "ack"
(``GroupState.succeeded``), or "redeliver" or "dead_letter" (``GroupState.failed``).

The run is the assembler: it builds the live parts once (stations, stores, the brokers'
``Messaging``, the ``Network``) and hands every component the same narrow ``Handles``
(``simlab.components``), never itself.
"""

import functools
import math
import time
from types import MappingProxyType

from simpy.core import EmptySchedule, Environment, StopSimulation
from simpy.events import Process, Timeout

from .calls import Chain, resume, with_timeout
from .components import Clock, Handles, Task
from .consumers import GroupState, replay, scale
from .data import Store
from .delivery.alerts import AlertWatch
from .delivery.deploy import Deployer
from .errors import CallError, RunLimitError, SimlabError
from .load import Sending
from .messaging import Messaging
from .network import Network
from .outbox import Outbox
from .randomness import Streams
from .resilience import BreakerState, BulkheadState, RetryBudget
from .context import NoWait
from .services import Station
from .sampler import QueueSampler
from .telemetry import Recorder, rare_collections

_CHUNK = 10_000  # events between two checks of the run limits

#: A request still in flight keeps its generators, events and open spans alive: about as
#: much memory as this many records. ``max_records`` counts it so.
IN_FLIGHT_WEIGHT = 5


class Run:
    """The live state of one run. Built by ``World.run``; learners rarely touch it."""

    def __init__(self, world, seed):
        self.world = world
        self.seed = seed
        self.env = Environment()
        self.streams = Streams(seed)
        self.recorder = Recorder(self.env)
        # By position: once per request. A request starts in flight, with no end or reason.
        self._add_request = self.recorder.requests.writer(
            "request_id", "trace_id", "load", "service", "endpoint", "start",
            end=math.nan, outcome="in_flight", reason="")
        # The two fields written when a request is answered, by name, once.
        self._request_end = self.recorder.requests.columns["end"]
        self._request_outcome = self.recorder.requests.columns["outcome"]
        self.latency = world.latency
        # The services a crash is scheduled for: their requests need a Chain, for the
        # crash to interrupt (see simlab.calls). A run without crashes pays nothing.
        self.crashable = world.faults.crash_targets()
        self.crashes = bool(self.crashable)
        self.stores = {name: Store(self, name, svc.view_of) for name, svc in world.services.items()}
        self.stations = {name: Station(self, svc) for name, svc in world.services.items()}
        for store in self.stores.values():  # a source keeps the times of its versions
            if store.source is not None:
                self.stores[store.source].followed = True
        self.messaging = Messaging(self.env, self.recorder, world.unknown_topic_message)
        self.publish = self.messaging.publish  # (bound once: ``Context.publish`` calls it)
        self.network = Network(self.streams)
        # The engine's fast path checks that no network fault is in force without a call:
        # the network's own list, which only the network changes.
        self.network_faults = self.network.faults
        self.components = []  # every long-lived part of the run (simlab.components)
        self.loads = []       # ... of which the loads
        self.clock = Clock(self.env, self.start_process, self.drained)
        self.no_wait = NoWait(self.env)  # zero-time work: no event at all
        self._requests = 0
        self.breakers, self.bulkheads, self.budgets = {}, {}, {}
        self.warnings = []        # what ``World.run`` tells the learner when it returns
        # What every component gets (see simlab.components.Handles), built once.
        self.handles = Handles(
            env=self.env, streams=self.streams, recorder=self.recorder,
            start_process=self.start_process, periodic=self.clock.add, warn=self.warn,
            drained=self.drained, services=MappingProxyType(self.stations),
            messaging=self.messaging, network=self.network, send_request=self.request,
            deployer=None)
        self.outboxes = {name: Outbox(self.handles, station)
                         for name, station in self.stations.items()}
        # The deployment side (simlab.delivery), if the world deploys with a strategy:
        # without one, a pipeline's production stage is a timed stage of its own.
        if Deployer.needed(world):
            self.handles.deployer = Deployer(self.handles, world)

    # -- the state of the resilience policies of synchronous calls (see simlab.calls)

    def breaker(self, key, policy):
        """The live circuit breaker of one caller, dependency and policy."""
        state = self.breakers.get((key, policy))
        if state is None:
            state = self.breakers[(key, policy)] = BreakerState(self, policy, *key)
        return state

    def bulkhead(self, key, policy):
        state = self.bulkheads.get((key, policy))
        if state is None:
            state = self.bulkheads[(key, policy)] = BulkheadState(policy)
        return state

    def retry_budget(self, key, policy):
        state = self.budgets.get((key, policy))
        if state is None:
            state = self.budgets[(key, policy)] = RetryBudget(policy.budget)
        return state

    # -- external requests

    def request(self, sending, station, endpoint, make_payload, timeout):
        """Start one external request from a client of a load (``sending``: its
        ``load.Sending``); return its process, or None if it was answered at once.

        The request is the entry service's ``serve``. It runs at once, inside the load's
        own step, up to its first wait; only then does it become a SimPy process of its
        own. A request that takes no simulated time (a front door that publishes and
        answers) never needs a process: no start event, no end event. The payload is
        made from the request number, unique across all loads.
        """
        recorder = self.recorder
        self._requests += 1
        payload = make_payload(self._requests)
        trace = recorder.new_trace()
        record = self._add_request(self._requests, trace, sending.load.name, station.name,
                                   endpoint.name, self.env.now)
        sending.in_flight += 1
        chain = Chain() if self.crashes else None
        serve = station.serve(endpoint, payload, trace, 0, (station.name,), chain=chain)
        if timeout is not None:
            serve = with_timeout(self, serve, timeout, endpoint.where, chain)
            chain = None  # the chain is with_timeout's process
        try:
            event = serve.send(None)  # up to its first wait
        except StopIteration as answer:
            self._answered(record, sending, True, answer.value)
            return None
        except CallError as error:
            self._answered(record, sending, False, error)
            return None
        process = Process(self.env, resume(serve, event))
        if chain is not None:
            chain.process = process

        def answered(process):
            if not process.ok and isinstance(process.value, CallError):
                process.defused = True  # a failed request is an outcome, not a crash of the run
            self._answered(record, sending, process.ok, process.value)

        process.callbacks.append(answered)
        return process

    def _answered(self, record, sending, ok, value):
        """Record how the request in row ``record`` ended, now."""
        if ok:
            self._request_outcome[record] = "ok"
        elif isinstance(value, CallError):
            self._request_outcome[record] = value.kind
            self.recorder.requests.set(record, reason=str(value))
        else:
            return  # a mistake in the model: let it stop the run
        self._request_end[record] = self.env.now
        sending.in_flight -= 1

    def start_process(self, generator):
        return Process(self.env, generator)

    # -- running

    def start(self, until=None):
        """Start every component of the model, in this order: consumer groups, loads,
        replays and scalings, faults, outboxes, the queue sampler, the deployer and its
        alerts, and the world's own components."""
        world, handles = self.world, self.handles
        for broker in world.brokers.values():
            for topic in broker.topics.values():
                groups = []
                for sub in topic.groups.values():
                    group = GroupState(handles, sub, sub.consumers or sub.service.workers or 1)
                    if sub.idempotent:
                        self.stores[sub.service.name].remembering.add(group.names)
                    groups.append(group)
                    self.components.append(group)
                self.messaging.add_topic(broker.name, topic, groups)
        self.loads = [Sending(load) for load in world.loads]
        self.components += self.loads
        for broker in world.brokers.values():
            self.components += [Task(functools.partial(replay, broker=broker.name, topic=t,
                                                       group=g, at=at))
                                for t, g, at in broker.replays]
            self.components += [Task(functools.partial(scale, broker=broker.name, topic=t,
                                                       group=g, consumers=c, at=at))
                                for t, g, c, at in broker.scalings]
        for fault in world.faults.all(self.streams):
            if until is not None and fault.at >= until:
                self.warn(str(fault.target), f"run(until={until:g}): {fault!r} would begin "
                          "after the run stops, so it never happens; run longer, or move it")
            else:
                self.components.append(Task(fault.inject))
        self.components += self.outboxes.values()
        if world.sample_every:
            self.components.append(QueueSampler(handles, world.sample_every))
        if handles.deployer is not None:
            self.components.append(handles.deployer)
        self.components += [AlertWatch(handles, service, alert, world.time_unit)
                            for service, alert in world.alerts]
        self.components += [make(handles) for make in world.extensions]
        for component in self.components:
            component.start(handles)

    def drained(self):
        """Nothing left to do: every component is idle (all load sent, every request
        answered, every message settled, every outbox empty...)."""
        return all(component.idle() for component in self.components)

    @property
    def in_flight(self):
        """External requests not answered yet."""
        return sum(sending.in_flight for sending in self.loads)

    def warn(self, service, message):
        """Tell the learner something they may not expect, without stopping the run: a
        line in ``result.logs`` now, and a Python warning (shown under the notebook cell)
        when ``World.run`` returns."""
        self.recorder.log(None, None, service, "warning", message)
        self.warnings.append(message)

    def execute(self, until, max_events, max_seconds, max_records):
        """Run to ``until`` (or until nothing is left to do) within the limits."""
        env = self.env
        if until is not None:
            # Made before anything else is scheduled for that instant, so it comes first.
            Timeout(env, until - env.now).callbacks.append(StopSimulation.callback)
        step = env.step
        started = time.perf_counter()
        events = 0
        with rare_collections():  # see simlab.telemetry: a run makes no cycles of its own
            try:
                while True:
                    for _ in range(_CHUNK):
                        step()
                    events += _CHUNK
                    self._check_limits(events, max_events, time.perf_counter() - started,
                                       max_seconds, max_records)
            except (StopSimulation, EmptySchedule):
                pass
            except SimlabError as error:
                # No Result will hold the records: let them go now, not whenever the
                # traceback (kept by a notebook, say) is dropped.
                self.recorder.drop()
                # SimPy re-raises a copy of a process's exception; raise the original, whose
                # traceback points at the model's own line.
                original = error
                while type(original.__cause__) is type(original):
                    original = original.__cause__
                raise original from original.__cause__
        return time.perf_counter() - started

    def _check_limits(self, events, max_events, wall, max_seconds, max_records):
        """Stop a runaway: too many events, too much kept in memory, too long."""
        now = self.env.now
        if events >= max_events:
            raise RunLimitError(
                f"the run stopped after {events:,} events at t={now:.3f} s "
                f"(max_events={max_events:,}). A retry storm or an endless loop? "
                "Shorten the run, lower the load, or raise World(max_events=...)")
        records = self.recorder.count()
        if records + IN_FLIGHT_WEIGHT * self.in_flight > max_records:
            # Say what grew: requests piling up unanswered, or the records of work done.
            if IN_FLIGHT_WEIGHT * self.in_flight > records:
                cause = (f"{self.in_flight:,} requests are waiting for an answer (each counts "
                         f"as {IN_FLIGHT_WEIGHT} records): more load than the services can "
                         "handle. Lower the load (rate) or give the services more workers")
            else:
                cause = "Shorten the run (duration) or lower the load (rate)"
            raise RunLimitError(
                f"the run kept too much: {records:,} records and {self.in_flight:,} requests "
                f"in flight at t={now:.3f} s (max_records={max_records:,}, about 250 bytes "
                f"each). {cause}; or raise World(max_records=...)")
        if wall > max_seconds:
            raise RunLimitError(
                f"the run took more than {max_seconds} s of wall-clock time and "
                f"stopped at t={now:.3f} s. Shorten the run, lower the load, or "
                "raise World(max_seconds=...)")
