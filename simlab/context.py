"""The ``ctx`` a handler receives: what a handler can do, and the trace it belongs to.

A handler is a generator function ``fn(ctx, payload)``. It yields what it waits for:

* ``yield ctx.work()`` computes for a time drawn from the service's ``work``;
* ``yield ctx.sleep(seconds)`` waits without computing (a ``time.sleep`` in the handler);
* ``result = yield ctx.call("payments", "charge", order, timeout=0.5)`` calls another
  service synchronously and waits for its answer (or raises ``sl.CallError``);

and does, without yielding:

* ``ctx.publish(bus, "orders", order, key=order.id)`` puts a message on a broker
  (fire-and-forget: the publisher does not wait);
* ``ctx.log("charged", amount=12)`` writes a log line that carries the trace and span ids;
* ``ctx.db.write(order.id, "placed")`` writes this service's versioned store;
* ``ctx.memory`` is the service's in-memory state (a dict), lost when it crashes.

A call, a work step, a sleep or a saga happens only when the handler yields it:
``ctx.call(...)`` on its own line does nothing at all. So a handler that makes one and
returns without yielding it is a mistake, and the run stops with a ``ModelError`` that
names the handler and the step (see ``Context.yielded``).
"""

from simpy.events import Condition, Event, Timeout

from . import checks
from .calls import NO_FALLBACK, Call
from .data import Database
from .distributions import as_distribution
from .errors import ModelError
from .records import SEVERITY_NUMBER
from .resilience import Bulkhead, CircuitBreaker, Retry
from .saga import Saga, SagaRun


_INFINITY = float("inf")


class Sleep(Timeout):
    """What ``ctx.sleep`` returns: a Timeout that says it is a sleep (in a message)."""


class Several(list):
    """Steps a handler made and has not yielded yet, when there are more than one."""


class NoWait:
    """What ``ctx.work()`` gives for no time at all: ``serve`` goes straight on, with no
    event to schedule, so zero-time work is free. ``a | b`` and ``a & b`` still work:
    then it stands for an event that has already happened."""

    __slots__ = ("env",)

    def __init__(self, env):
        self.env = env

    def event(self):
        return Timeout(self.env, 0)

    def __or__(self, other):
        return self.event() | other

    def __ror__(self, other):
        return other | self.event()

    def __and__(self, other):
        return self.event() & other

    def __rand__(self, other):
        return other & self.event()

    def __repr__(self):
        return "ctx.work() of no time"


class Context:
    """Handed to every handler; one per request (or message) per service."""

    __slots__ = ("station", "trace_id", "span_id", "stack", "chain", "message", "group",
                 "writes", "unyielded")

    def __init__(self, station, trace_id, span_id, stack, chain=None, message=None, group=None):
        self.station = station
        self.trace_id = trace_id
        self.span_id = span_id
        self.stack = stack      # services on this request's synchronous call stack
        self.chain = chain      # the process it runs in, for a crash to stop (calls.Chain)
        self.message = message  # the message being consumed, if any
        self.group = group      # ... and its consumer group: (broker, topic, group)
        self.writes = None      # writes made by this handler, carried by what it publishes
        # The step made (ctx.work(), ctx.call(...) ...) and not yet yielded; Several of
        # them in the rare case that a handler makes a step before yielding the last one.
        self.unyielded = None

    @property
    def db(self):
        """This service's versioned store (see ``simlab.data``)."""
        # A fresh view each time, not one kept here: the view refers to this context, and
        # a context that referred back to it would make a reference cycle, which only the
        # garbage collector could free (see "Memory" in simlab.telemetry).
        return Database(self.station.store, self)

    @property
    def memory(self):
        """This service's in-memory state: a dict shared by its handlers, emptied when the
        service crashes (a restarted process starts with nothing in memory). What must
        survive a crash belongs in ``ctx.db``."""
        return self.station.memory

    @property
    def now(self):
        """The simulated time, in seconds."""
        return self.station.env.now

    @property
    def service(self):
        """The name of the service running this handler."""
        return self.station.name

    def work(self, duration=None):
        """Compute for a time drawn from the service's ``work`` (or from ``duration``:
        a distribution or a number of seconds)."""
        station = self.station
        if duration is None:
            seconds = station.work.sample(station.rng)
        elif duration.__class__ in (int, float) and 0 <= duration < _INFINITY:
            seconds = duration  # the shortcut for a plain number (NaN fails the test)
        else:
            seconds = as_distribution(duration, "ctx.work", "duration").sample(station.rng)
        if seconds == 0:
            step = station.run.no_wait  # no time passes: no event to schedule
        else:
            if station.slowdown != 1.0:
                seconds *= station.slowdown
            step = Timeout(station.env, seconds)
        if self.unyielded is None:  # (what _made does, inline: this is the hot path)
            self.unyielded = step
        else:
            self._remember(step)
        return step

    def sleep(self, seconds):
        """Wait ``seconds`` without computing; the request keeps its worker."""
        seconds = as_distribution(seconds, "ctx.sleep", "seconds").sample(self.station.rng)
        return self._made(Sleep(self.station.env, seconds))

    # -- steps made and yielded: a step the handler never yields is a mistake

    def _made(self, step):
        """Remember ``step`` until the handler yields it; return it."""
        if self.unyielded is None:
            self.unyielded = step
        else:
            self._remember(step)
        return step

    def _remember(self, step):
        """A step made while the last one is not yielded (yet): remember both."""
        several = self.unyielded
        if several.__class__ is not Several:
            several = self.unyielded = Several([several])
        several.append(step)

    def yielded(self, item):
        """The handler yielded ``item``, which is not the one step it made and has not
        yielded (``serve`` checks that first). A condition (``a | b``, ``a & b``) waits on
        the steps made before it: they count as yielded."""
        several = self.unyielded
        if isinstance(item, Condition):
            self.unyielded = None
        elif several.__class__ is Several:
            several[:] = [step for step in several if step is not item]
            if not several:
                self.unyielded = None

    def never_yielded(self, where):
        """The error for handler ``where``, which returned with a step it made and never
        yielded (the first such step)."""
        step = self.unyielded[0] if self.unyielded.__class__ is Several else self.unyielded
        if step.__class__ is Call:
            what = f"ctx.call({step.service!r}, {step.endpoint!r}, ...)"
        else:
            what = {SagaRun: "ctx.saga(...)", Sleep: "ctx.sleep(...)",
                    Event: "ctx.db.wait_for(...)"}.get(step.__class__, "ctx.work()")
        return ModelError(f"handler {where} made {what} and returned without yielding it, so "
                          f"it never happened: write `yield {what}`. A call, a work step, a "
                          "wait or a saga happens only when the handler yields it")

    def call(self, service, endpoint, payload=None, *, timeout=None, retry=None, breaker=None,
             bulkhead=None, fallback=NO_FALLBACK, propagate=True):
        """A synchronous call; ``yield`` it to get the callee's return value.

        Args:
            timeout: seconds to wait for the answer (each attempt); then ``sl.CallError``
                with kind ``"timeout"`` is raised here. The callee is not told and may
                still finish.
            retry: an ``sl.Retry`` policy.
            breaker: an ``sl.CircuitBreaker`` policy (its state is shared by all calls
                from this service to that one with an equal policy).
            bulkhead: an ``sl.Bulkhead`` policy (shared the same way).
            fallback: a value, or a function of the final ``CallError``, returned
                instead of raising when the call fails.
            propagate: ``False`` sends the call without its trace context (a client
                library that drops the ``traceparent`` header): the callee's work starts
                a new trace, unconnected to this one.
        """
        if timeout is not None or retry is not None or breaker is not None \
                or bulkhead is not None:  # (a plain call, the usual one, has nothing to check)
            where = f"ctx.call({service!r}, {endpoint!r})"
            if timeout is not None:
                checks.seconds(where, "timeout", timeout, positive=True, none="no timeout")
            for name, value, kind in (("retry", retry, Retry),
                                      ("breaker", breaker, CircuitBreaker),
                                      ("bulkhead", bulkhead, Bulkhead)):
                if value is not None and not isinstance(value, kind):
                    checks.refuse(where, name, f"an sl.{kind.__name__}(...)", value)
        # (late=None, propagate: by position, which is faster than by keyword)
        step = Call(self, service, endpoint, payload, timeout, retry, breaker, bulkhead, fallback,
                    None, propagate)
        if self.unyielded is None:  # (what _made does, inline: this is the hot path)
            self.unyielded = step
        else:
            self._remember(step)
        return step

    def publish(self, broker, topic, payload, key=None, propagate=True):
        """Put a message on ``broker``'s ``topic``; the trace context travels with it
        (``propagate=False``: it does not, and each consumer starts a new trace)."""
        self.station.run.publish(self, broker, topic, payload, key, propagate)

    def saga(self, saga, payload):
        """Run an orchestrated ``sl.Saga``; ``yield`` it to get its outcome
        ("completed", "compensated" or "stuck"; see ``simlab.saga``)."""
        if not isinstance(saga, Saga):
            raise ModelError(f"ctx.saga: expected an sl.Saga([...]), got {saga!r}")
        return self._made(SagaRun(self, saga, payload))

    def outbox(self, broker, topic, payload, key=None):
        """Record an event in this service's outbox, atomically with its writes; the
        service's relay publishes it soon after (see ``simlab.outbox``)."""
        station = self.station
        name = getattr(broker, "name", broker)
        if (name, topic) not in station.run.messaging.topics:
            raise ModelError(station.run.world.unknown_topic_message(name, topic))
        station.run.outboxes[station.name].add(self, broker, topic, payload, key)

    def random(self):
        """A uniform number in [0, 1) from this service's seeded stream."""
        return self.station.rng.random()

    def log(self, message, level="info", **fields):
        """Write a log line; it carries this request's trace id and span id, and the
        keyword ``fields`` as structured attributes (``result.logs.attributes``)."""
        if level not in SEVERITY_NUMBER:
            raise ModelError(f"ctx.log: unknown level {level!r}; use one of "
                             f"{', '.join(map(repr, SEVERITY_NUMBER))}")
        self.station.run.recorder.log(self.trace_id, self.span_id, self.station.name,
                                      level, message, fields)
