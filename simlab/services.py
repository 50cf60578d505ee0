"""Services: a pool of workers, endpoints, an optional bounded queue, up or down.

**What a worker is.** A worker is a thread of a thread-per-request server. A request
takes one of its service's workers when it gets to the front of the queue and holds it
until its handler returns, *including while it waits on synchronous calls*. That is why
a slow dependency can exhaust its callers' workers (lesson 04). ``ctx.work()`` is the
time the handler computes. A leaf service whose handler only does ``ctx.work()``, under
Poisson load, is therefore an M/M/c queue with c = ``workers``.

``Service`` is the description you build; ``Station`` is its live state during one run.

**Versions.** A station runs one version of its code (``version="1.0"``), named on every
span. During a deployment (``simlab.delivery``) it may serve from several versions at
once, each with a share of the traffic: each request picks one by weight, from the
service's own seeded stream, and that version (``simlab.delivery.versions.LiveVersion``)
serves it. A version may carry defects (``sl.Defect``) that change how it serves. With
one version and no defect (the usual case) no draw is made and a request costs what it
did before versions existed.
"""

import inspect
import itertools
import math
from collections import deque

from simpy.events import Event
from simpy.exceptions import Interrupt

from . import checks
from .calls import Call, make_call
from .context import Context, NoWait
from .distributions import as_distribution
from .errors import (
    SPIN_LIMIT,
    CallError,
    HandlerError,
    ModelError,
    RunLimitError,
    ServiceError,
    SimlabError,
)
from .resilience import TokenBucket
from .saga import SagaRun, run_saga


def check_handler(owner, fn):
    if not inspect.isgeneratorfunction(fn):
        raise ModelError(
            f"{owner}: handler {getattr(fn, '__name__', fn)!r} is not a generator function. "
            "Write it with at least one `yield`, e.g. `yield ctx.work()`"
        )


class Endpoint:
    """A named operation of a service, with its handler ``fn(ctx, payload)``."""

    def __init__(self, service, name, fn):
        self.service = service
        self.name = name
        self.fn = fn
        self.where = f"{service}.{name}"


class Service:
    """A service in the model. Create it with ``world.service(...)``.

    Args:
        name: appears in every DataFrame.
        workers: how many requests it serves at once (``None``: unlimited).
        work: distribution of ``ctx.work()`` time, in seconds.
        queue: how many requests may wait for a worker; more are rejected
            (``None``: no limit).
        error_rate: probability that a request fails after its handler ran
            (a simple model of an unreliable service; its draws have their own stream).
        rate_limit: an ``sl.TokenBucket``; requests beyond its rate are rejected at once.
        relay_delay: seconds between two rounds of the outbox relay (``ctx.outbox``).
        version: the version deployed, recorded on its spans (``service.version`` in
            OpenTelemetry).
    """

    def __init__(self, world, name, workers=1, work=0.0, queue=None, error_rate=0.0,
                 rate_limit=None, relay_delay=0.05, version="1.0"):
        self.world = world
        self.name = checks.name("service", name)
        owner = f"service {name!r}"
        self.workers = checks.count(owner, "workers", workers, none="unlimited workers")
        self.work = as_distribution(work, owner, "work")
        self.queue = checks.count(owner, "queue", queue, least=0, none="no limit")
        self.error_rate = float(checks.probability(owner, "error_rate", error_rate))
        if rate_limit is not None and not isinstance(rate_limit, TokenBucket):
            checks.refuse(owner, "rate_limit", "an sl.TokenBucket(rate=..., burst=...) or None",
                          rate_limit)
        self.rate_limit = rate_limit
        self.relay_delay = checks.seconds(owner, "relay_delay", relay_delay, positive=True)
        self.version = checks.name("version", version)
        self.endpoints = {}
        self.view_of = None  # the service whose store this one's store is a read model of

    def __repr__(self):
        return f"Service({self.name!r}, workers={self.workers}, work={self.work!r})"

    def endpoint(self, name):
        """Decorator: register a generator function as endpoint ``name``.

        Example:
            >>> @payments.endpoint("charge")
            ... def charge(ctx, order):
            ...     yield ctx.work()
        """
        checks.name("endpoint", name)

        def register(fn):
            check_handler(f"endpoint {self.name}.{name}", fn)
            if name in self.endpoints:
                raise ModelError(f"service {self.name!r} already has an endpoint {name!r}; "
                                 "give the second one another name")
            self.endpoints[name] = Endpoint(self.name, name, fn)
            return fn

        return register

    def consumer(self, broker, topic, group=None, consumers=None, view_of=None,
                 idempotent=False, propagate=True):
        """Decorator: consume ``topic`` from ``broker`` as consumer group ``group``.

        Every group gets every message; the ``consumers`` of one group compete for them
        (default: one consumer per worker; one for a service with unlimited workers).
        Each message handled holds a worker.

        ``view_of="orders"`` makes this service's store a read model of orders' store:
        each write the handler makes applies the orders write the message carries, and
        ``result.consistency`` measures how long each orders write took to show here.

        ``idempotent=True`` makes the consumer remember, with its first write, the id of
        each message it applied, and ignore a message it has already applied.

        ``broker`` is the broker (``bus = world.broker("bus")``) or its name (``"bus"``),
        as for ``ctx.publish``.

        ``propagate=False`` makes a legacy consumer that ignores the trace context of
        the messages: each message it handles starts a new trace.
        """
        broker = self._broker(broker)
        group = self.name if group is None else checks.name("consumer group", group)
        consumers = checks.count(f"consumer group {group!r}", "consumers", consumers,
                                 none="one consumer per worker")
        if consumers is not None and self.workers is not None and consumers > self.workers:
            raise ModelError(f"consumer group {group!r}: {consumers} consumers, but service "
                             f"{self.name!r} has {self.workers} workers and each consumer is one "
                             f"of them; use at most {self.workers} consumers or more workers")
        if view_of is not None:
            checks.name("view_of service", view_of)
            if view_of == self.name or self.view_of not in (None, view_of):
                why = "a store cannot follow itself" if view_of == self.name else \
                    f"it is a read model of {self.view_of!r} already"
                raise ModelError(f"service {self.name!r} cannot be a read model of {view_of!r}:"
                                 f" {why}; one store follows one other service")
            self.view_of = view_of

        def register(fn):
            check_handler(f"consumer {self.name} of {broker.name}/{topic}", fn)
            broker.subscribe(topic, group, self, fn, consumers, bool(idempotent),
                             bool(propagate))
            return fn

        return register

    def _broker(self, broker):
        """The broker ``broker`` stands for: a broker of this world, or its name."""
        name = broker if isinstance(broker, str) else getattr(broker, "name", None)
        found = self.world.brokers.get(name) if isinstance(name, str) else None
        if found is None or (found is not broker and not isinstance(broker, str)):
            raise ModelError(f"consumer of {self.name!r}: unknown broker {broker!r}; pass a "
                             "broker made with world.broker(...) in this world, or its name; "
                             f"known brokers: {sorted(self.world.brokers)}")
        return found


class Station:
    """A service during one run: its workers, its queue, its up/down state."""

    # Read on every request: a fixed set of slots, as past 30 attributes CPython reads
    # each through a dict lookup (see simlab.telemetry.Recorder).
    __slots__ = ("run", "env", "recorder", "name", "store", "service", "workers", "busy",
                 "waiting", "queue_limit", "work", "error_rate", "endpoints", "rng",
                 "error_rng", "network_rng", "retry_rng", "slowdown", "overrides", "limit",
                 "tokens", "refilled", "up", "crashes", "epoch", "restarted", "crashable",
                 "serving", "memory", "version", "routing", "routing_rng")

    def __init__(self, run, service):
        self.run = run
        self.env = run.env
        self.recorder = run.recorder
        self.name = service.name
        self.store = run.stores[self.name]  # ctx.db
        self.service = service
        self.workers = math.inf if service.workers is None else service.workers
        self.busy = 0
        self.waiting = deque()   # events of requests waiting for a worker, first come first served
        self.queue_limit = service.queue
        self.work = service.work
        self.error_rate = service.error_rate
        self.endpoints = service.endpoints
        self.rng = run.streams.stream(f"service:{self.name}")
        self.error_rng = run.streams.stream(f"errors:{self.name}")
        self.network_rng = run.streams.stream(f"network:{self.name}")
        self.retry_rng = run.streams.stream(f"retry:{self.name}")
        self.slowdown = 1.0      # a slowdown fault multiplies work times by this
        self.overrides = {}      # setting -> the faults overriding it, in order (faults.Setting)
        self.limit = service.rate_limit
        self.tokens = self.limit.burst if self.limit else 0.0
        self.refilled = 0.0
        self.up = True
        self.crashes = 0         # crashes in progress (back-to-back ones may overlap an instant)
        self.epoch = 0           # +1 at each crash: requests of an older epoch died with it
        self.restarted = None    # an event while down, triggered at restart
        self.crashable = self.name in run.crashable  # a crash is scheduled for it
        self.serving = {}        # the chains (calls.Chain) with a request inside, in order
        self.memory = {}         # ctx.memory: the process's in-memory state, lost in a crash
        self.version = service.version  # the version running (recorded on its spans)
        # While a deployment is under way, or a defective version runs: the versions
        # serving (LiveVersion) and their cumulative traffic weights, two lists (empty: no
        # version runs). None: the station itself serves, as version ``self.version``.
        self.routing = None
        self.routing_rng = run.streams.stream(f"versions:{self.name}")

    # -- workers: a slot counter with a FIFO of waiting events (lighter than simpy.Resource)

    def release(self, epoch, chain=None):
        if chain is not None:
            del self.serving[chain]
        if epoch != self.epoch:
            return  # the worker died in a crash; the restart gave the pool back in full
        if self.waiting and self.busy <= self.workers:
            self.waiting.popleft().succeed()  # hand the worker straight to the next in line
        else:
            self.busy -= 1  # (or retire it: the pool shrank while it was busy, see resize)

    def resize(self, workers):
        """Serve with ``workers`` workers from now: a deployment takes instances out or
        puts them back. A shrink lets busy workers finish; a growth serves waiting
        requests at once."""
        self.workers = workers
        while self.waiting and self.busy < self.workers:
            self.busy += 1
            self.waiting.popleft().succeed()

    def route(self, shares):
        """Serve new requests from ``shares``, a list of ``(LiveVersion, weight)`` whose
        weights sum to 1; a version at weight 0 gets no new request (its requests in progress
        finish). An empty list: no version runs, and requests are turned away. One
        version without defects goes back to the fast path: the station serves as it.
        (A request that began before the deployment, on the fast path, and is still in
        progress then, names that version on the calls it makes afterwards.)"""
        live = [(version, weight) for version, weight in shares if weight > 0]
        if len(live) == 1 and live[0][0].clean:
            self.version = live[0][0].version
            self.routing = None
            return
        versions = [version for version, _ in live]
        self.routing = (versions, list(itertools.accumulate(w for _, w in live)))

    def _pick(self):
        """The version that serves the next request, drawn by weight (None: none runs)."""
        versions, totals = self.routing
        if len(versions) < 2:
            return versions[0] if versions else None
        return self.routing_rng.choices(versions, cum_weights=totals)[0]

    def _take_token(self):
        """Token bucket: refill at ``rate`` per second up to ``burst``; a request takes one."""
        now = self.env.now
        self.tokens = min(self.limit.burst, self.tokens + (now - self.refilled) * self.limit.rate)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def crash(self):
        self.crashes += 1
        if not self.up:
            return  # a second crash while down (back to back): it stays down until both end
        self.up = False
        self.epoch += 1
        self.memory = {}         # a crash loses what the process held in memory
        self.busy = 0
        self.restarted = Event(self.env)
        waiting, self.waiting = self.waiting, deque()
        for ticket in waiting:
            ticket.fail(CallError("error", self.name, f"{self.name} crashed while it waited"))
        # The requests inside die now, mid-step, not when their step would have ended:
        # their callers hear of it at once (see simlab.calls).
        for chain in list(self.serving):
            chain.stop(self.name)

    def restart(self):
        self.crashes -= 1
        if self.crashes:
            return
        self.up = True
        restarted, self.restarted = self.restarted, None
        restarted.succeed()

    # -- serving one request or message

    def _admit(self, endpoint, span):
        """Let a request in: take a worker (None), or a place in line (an event to wait
        for). A request turned away closes its span and raises ``CallError``."""
        refusal = None
        if not self.up:
            refusal = ("error", f"{self.name} is down")
        elif self.limit is not None and not self._take_token():
            refusal = ("rejected", "rate limit exceeded")
        elif self.busy < self.workers:
            self.busy += 1
            return None
        elif self.queue_limit is not None and len(self.waiting) >= self.queue_limit:
            refusal = ("rejected", f"queue full ({self.queue_limit} waiting)")
        if refusal is not None:
            self.recorder.close_span(span, refusal[0])
            raise CallError(refusal[0], endpoint.where, refusal[1])
        ticket = Event(self.env)
        self.waiting.append(ticket)
        return ticket

    def serve(self, endpoint, payload, trace, parent, stack, kind="server", caller_version="",
              message=None, group=None, chain=None):
        """Generator: the life of one request (or message) in this service, in order: its
        span opens, it takes a worker (waiting in line if all are busy), its handler runs,
        and it answers: the worker is freed, the span closes, the handler's value is
        returned, or a ``CallError`` raised for every failure the caller should see.

        ``caller_version``, when given, is the version of the caller of a fast-path call
        (``simlab.calls``): the call's client span, made from this span when the table is
        built, names it, and ends when this one does. ``message`` is the message a
        consumer of consumer group ``group`` (its broker, topic and name) is handling.
        ``chain`` is the process it runs in, which a crash interrupts (None in a run
        without crashes).
        """
        if self.routing is None:  # one version, the station itself: the usual case
            version = self
            span = self._open_span(endpoint, trace, parent, kind, message, group, self.version,
                                   caller_version)
        else:
            version, span = self._route(endpoint, trace, parent, kind, message, group,
                                        caller_version)
        epoch = self.epoch
        if self.up and self.busy < self.workers and self.limit is None:
            self.busy += 1  # the usual case, decided here: a worker is free
        else:
            ticket = self._admit(endpoint, span)  # (or it is turned away)
            if ticket is not None:  # every worker is busy: wait in line
                yield from self._wait_in_line(ticket, endpoint, span, epoch)
        if chain is not None:
            self.serving[chain] = None  # a crash now interrupts it (see crash)
        # The handler sees its version in place of the station (see LiveVersion).
        context = Context(version, trace, span, stack, chain, message, group)
        try:
            if version is not self and version.broken and version.fails():
                raise CallError("error", endpoint.where, f"version {version.version} is broken")
            value = yield from self._run_handler(endpoint, context, payload)
            if version.error_rate and self.error_rng.random() < version.error_rate:
                raise CallError("error", endpoint.where, "failed (injected error)")
        except CallError as failure:
            self.release(epoch, chain)
            if caller_version and self.run.network_faults:
                yield from self._lose_answer(span, failure.kind, parent)
            self.recorder.span_event(trace, span, "exception", str(failure))
            self.recorder.close_span(span, failure.kind)
            raise
        self.release(epoch, chain)
        if caller_version and self.run.network_faults:
            yield from self._lose_answer(span, "ok", parent)
        self.recorder.close_span(span, "ok")
        return value

    def _route(self, endpoint, trace, parent, kind, message, group, caller_version):
        """The version that serves a request during a deployment, and its span. A request
        that comes while no version runs (a recreate deployment) is turned away."""
        version = self._pick()
        span = self._open_span(endpoint, trace, parent, kind, message, group,
                               "" if version is None else version.version, caller_version)
        if version is None:
            self.recorder.close_span(span, "rejected")
            raise CallError("rejected", endpoint.where,
                            f"no version of {self.name} is running (being deployed)")
        return version, span

    def _open_span(self, endpoint, trace, parent, kind, message, group, label, caller_version):
        """The span of a request, opened now, named with the version serving it
        (``label``); a consumer's names what it consumes, a fast-path callee's the
        version of its caller."""
        recorder = self.recorder
        if caller_version:
            return recorder.open_called_span(trace, parent, self.name, endpoint.name, label,
                                             caller_version)
        if message is None:
            return recorder.open_span(trace, parent, self.name, endpoint.name, kind, label)
        broker, topic, name = group
        return recorder.open_span(trace, parent, self.name, endpoint.name, kind, label,
                                  broker=broker, topic=topic, group=name,
                                  message_id=message.id)

    def _wait_in_line(self, ticket, endpoint, span, epoch):
        """Generator: wait for the worker ``ticket`` hands over (first come, first served)."""
        recorder = self.recorder
        queued = self.env.now
        try:
            yield ticket
        except CallError:  # the service crashed while the request waited
            recorder.close_span(span, "error")
            raise
        recorder.waited(span, queued)
        if self.epoch != epoch:  # handed a worker the instant the service crashed
            recorder.close_span(span, "error")
            raise CallError("error", endpoint.where, f"{self.name} crashed while it waited")

    def _run_handler(self, endpoint, context, payload):
        """Generator: run the handler step by step; return its value.

        Each step the handler yields is waited on here: a SimPy event goes to SimPy; a
        call runs inline (``yield from``), in this same SimPy process (no extra process,
        no extra event, except for a service that may crash: see ``simlab.calls``); a
        saga runs its steps. A crash of this service interrupts the step, however long.
        """
        env = self.env
        handler = endpoint.fn(context, payload)
        value = error = None
        instant, steps = env.now, 0
        while True:
            # A handler that loops without time passing (say, retrying a refused call
            # with no backoff) would hang the run inside one event: stop it instead.
            steps += 1
            if steps > SPIN_LIMIT:
                if env.now != instant:  # time passed: a long handler, not a spin
                    instant, steps = env.now, 0
                else:
                    handler.close()
                    raise RunLimitError(
                        f"handler {endpoint.where} took {SPIN_LIMIT:,} steps at t={instant:.3f}"
                        " s without time passing: a retry loop with no backoff? Wait between"
                        " attempts (ctx.sleep) or use retry=sl.Retry(...)")
            try:
                item = handler.send(value) if error is None else handler.throw(error)
            except StopIteration as stop:
                if context.unyielded is not None:
                    raise context.never_yielded(endpoint.where)
                return stop.value
            except (CallError, SimlabError):
                raise
            except ServiceError as failure:
                raise CallError("error", endpoint.where, str(failure) or "failed") from failure
            except Exception as bug:
                raise HandlerError(f"handler {endpoint.where} raised "
                                   f"{type(bug).__name__}: {bug}") from bug
            value = error = None
            if item is context.unyielded:
                context.unyielded = None
            elif context.unyielded is not None:
                context.yielded(item)
            try:
                if item.__class__ is NoWait:
                    value = None  # work of no time: nothing to wait for
                elif item.__class__ is Call:
                    value = yield from make_call(self.run, item)
                elif isinstance(item, Event):
                    value = yield item
                elif item.__class__ is SagaRun:
                    value = yield from run_saga(self.run, item)
                else:
                    handler.close()
                    raise ModelError(f"handler {endpoint.where} yielded {item!r}; yield "
                                     "ctx.work(), ctx.sleep(...), ctx.call(...) or "
                                     "ctx.saga(...)")
            except CallError as failed:
                error = failed
            except Interrupt:  # this service crashed while the request was inside
                handler.close()  # its thread is dead: the handler goes no further
                raise CallError("error", endpoint.where,
                                f"{self.name} crashed during the request") from None

    def _lose_answer(self, span, status, parent):
        """Generator: if a network fault that began during a fast-path call cuts the way
        back to the caller (the service of span ``parent``), the answer is lost: the
        caller waits for ever (or until its own timeout, in a call that has one)."""
        caller = self.recorder.span_field(parent, "service")
        if self.run.network.drops(self.name, caller):
            self.recorder.close_span(span, status)
            self.recorder.answer_lost(span)
            yield Event(self.env)  # never triggered: the answer is gone

