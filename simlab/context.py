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
"""

from simpy.events import Timeout

from .calls import NO_FALLBACK
from .data import Database
from .distributions import as_distribution
from .errors import CallError, ModelError
from .resilience import Bulkhead, CircuitBreaker, Retry
from .saga import Saga, SagaRun


class Call:
    """A synchronous call a handler wants to make. Yield it: ``yield ctx.call(...)``."""

    __slots__ = ("context", "service", "endpoint", "payload", "timeout", "retry", "breaker",
                 "bulkhead", "fallback", "policies", "plain")

    def __init__(self, context, service, endpoint, payload, timeout, retry=None, breaker=None,
                 bulkhead=None, fallback=NO_FALLBACK):
        self.context = context
        self.service = service
        self.endpoint = endpoint
        self.payload = payload
        self.timeout = timeout
        self.retry = retry
        self.breaker = breaker
        self.bulkhead = bulkhead
        self.fallback = fallback
        self.policies = retry is not None or breaker is not None or bulkhead is not None \
            or fallback is not NO_FALLBACK
        self.plain = timeout is None and not self.policies

    def __repr__(self):
        return f"Call({self.service}.{self.endpoint}, timeout={self.timeout})"


class Context:
    """Handed to every handler; one per request (or message) per service."""

    __slots__ = ("station", "trace_id", "span_id", "stack", "message", "group", "writes",
                 "epoch")

    def __init__(self, station, trace_id, span_id, stack, message=None, group=None):
        self.station = station
        self.epoch = station.epoch  # a crash of the service ends this handler (check_alive)
        self.trace_id = trace_id
        self.span_id = span_id
        self.stack = stack      # services on this request's synchronous call stack
        self.message = message  # the message being consumed, if any
        self.group = group      # ... and the consumer group consuming it
        self.writes = None      # writes made by this handler, carried by what it publishes

    @property
    def db(self):
        """This service's versioned store (see ``simlab.data``)."""
        # A fresh view each time, not one kept here: the view refers to this context, and
        # a context that referred back to it would make a reference cycle, which only the
        # garbage collector (resting during a run) could free.
        return Database(self.station.run.stores[self.station.name], self)

    @property
    def memory(self):
        """This service's in-memory state: a dict shared by its handlers, emptied when the
        service crashes (a restarted process starts with nothing in memory). What must
        survive a crash belongs in ``ctx.db``."""
        return self.station.memory

    def check_alive(self, where):
        """Raise if this handler's service crashed since it started (the thread is dead)."""
        if self.station.epoch != self.epoch:
            raise CallError("error", where, f"{self.station.name} crashed during the request")

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
        elif duration.__class__ in (int, float) and duration >= 0:
            seconds = duration
        else:
            seconds = as_distribution(duration, "ctx.work()").sample(station.rng)
        if seconds == 0:
            return station.run.no_wait  # no time passes: no event to schedule
        if station.slowdown != 1.0:
            seconds *= station.slowdown
        return Timeout(station.env, seconds)

    def sleep(self, seconds):
        """Wait ``seconds`` without computing; the request keeps its worker."""
        seconds = as_distribution(seconds, "ctx.sleep()").sample(self.station.rng)
        return Timeout(self.station.env, seconds)

    def call(self, service, endpoint, payload=None, *, timeout=None, retry=None, breaker=None,
             bulkhead=None, fallback=NO_FALLBACK):
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
        """
        where = f"ctx.call({service!r}, {endpoint!r})"
        if timeout is not None and (isinstance(timeout, bool)
                                    or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ModelError(f"{where}: timeout must be a positive number of seconds or None, "
                             f"got {timeout!r}")
        for name, value, kind in (("retry", retry, Retry), ("breaker", breaker, CircuitBreaker),
                                  ("bulkhead", bulkhead, Bulkhead)):
            if value is not None and not isinstance(value, kind):
                raise ModelError(f"{where}: {name} must be an sl.{kind.__name__}(...), "
                                 f"got {value!r}")
        return Call(self, service, endpoint, payload, timeout, retry, breaker, bulkhead, fallback)

    def publish(self, broker, topic, payload, key=None):
        """Put a message on ``broker``'s ``topic``; the trace context travels with it."""
        self.station.run.publish(self, broker, topic, payload, key)

    def saga(self, saga, payload):
        """Run an orchestrated ``sl.Saga``; ``yield`` it to get its outcome
        ("completed", "compensated" or "stuck"; see ``simlab.saga``)."""
        if not isinstance(saga, Saga):
            raise ModelError(f"ctx.saga: expected an sl.Saga([...]), got {saga!r}")
        return SagaRun(self, saga, payload)

    def outbox(self, broker, topic, payload, key=None):
        """Record an event in this service's outbox, atomically with its writes; the
        service's relay publishes it soon after (see ``simlab.outbox``)."""
        station = self.station
        name = getattr(broker, "name", broker)
        if (name, topic) not in station.run.topics:
            raise ModelError(station.run.world.unknown_topic_message(name, topic))
        station.run.outboxes[station.name].add(self, broker, topic, payload, key)

    def random(self):
        """A uniform number in [0, 1) from this service's seeded stream."""
        return self.station.rng.random()

    def log(self, message, level="info", **fields):
        """Write a log line; it carries this request's trace id and span id."""
        if fields:
            message = message + " " + " ".join(f"{k}={v}" for k, v in fields.items())
        self.station.run.recorder.log(self.trace_id, self.span_id, self.station.name,
                                      level, message)
