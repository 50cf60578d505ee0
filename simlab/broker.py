"""A message broker: topics, consumer groups, at-least-once delivery, a dead-letter topic.

* Every consumer group subscribed to a topic gets every message published on it;
  the consumers *within* a group compete for them.
* Delivery is at-least-once: a message is acked only after its handler returns. If the
  handler fails (an error, a crash of the consumer's service), the message is delivered
  again after ``redelivery_delay``; after ``max_attempts`` failed deliveries it goes to
  the dead-letter topic (``"<topic>.dlq"``) and stays there.
* Publishing is fire-and-forget: the publisher never waits for the broker.

**Trace context.** A message carries the trace id and span id of its producer span; the
consumer span is a *child* of the producer span in the *same trace*. One request then
shows its whole business flow in one waterfall, synchronous and asynchronous parts
alike. (OpenTelemetry also allows a new trace with a *link* to the producer; that suits
batch consumers, where one span handles many messages. Here each message is handled on
its own, so child-of is the clearer picture.)

``Broker`` is what you build; ``GroupState`` and ``consume`` are the live part of a run.
"""

from collections import deque

from simpy.events import Event, Timeout

from .errors import CallError, ModelError
from .services import Endpoint, check_count, check_name


class Subscription:
    """One consumer group of one topic: which service handles it, and how many consumers."""

    def __init__(self, broker, topic, group, service, fn, consumers):
        self.broker = broker
        self.topic = topic
        self.group = group
        self.service = service
        self.endpoint = Endpoint(service.name, f"consume {topic}", fn)
        self.consumers = consumers


class Broker:
    """A message broker. Create it with ``world.broker(name, ...)``.

    Args:
        max_attempts: deliveries of one message to one group before it is dead-lettered.
        redelivery_delay: seconds between a failed delivery and the next one.
    """

    def __init__(self, world, name, max_attempts=5, redelivery_delay=1.0):
        self.world = world
        self.name = check_name("broker", name)
        self.max_attempts = check_count(f"broker {name!r}", "max_attempts", max_attempts)
        if isinstance(redelivery_delay, bool) or not isinstance(redelivery_delay, (int, float)) \
                or redelivery_delay < 0:
            raise ModelError(f"broker {name!r}: redelivery_delay must be 0 or more seconds, "
                             f"got {redelivery_delay!r}")
        self.redelivery_delay = float(redelivery_delay)
        self.topics = {}  # topic name -> {group name -> Subscription}

    def __repr__(self):
        return f"Broker({self.name!r}, topics={list(self.topics)})"

    def topic(self, name):
        """Declare a topic (one with consumers is declared by them already)."""
        self.topics.setdefault(check_name("topic", name), {})
        return name

    def subscribe(self, topic, group, service, fn, consumers):
        groups = self.topics.setdefault(check_name("topic", topic), {})
        if group in groups:
            raise ModelError(f"topic {self.name}/{topic} already has a consumer group {group!r} "
                             f"(handled by {groups[group].service.name!r}); pick another group "
                             "name, or add consumers to that group")
        groups[group] = Subscription(self, topic, group, service, fn, consumers)


class Message:
    """One published message; it carries the producer's trace context."""

    __slots__ = ("id", "topic", "key", "payload", "trace", "span", "published")

    def __init__(self, id, topic, key, payload, trace, span, published):
        self.id = id
        self.topic = topic
        self.key = key
        self.payload = payload
        self.trace = trace
        self.span = span
        self.published = published


class GroupState:
    """One consumer group during a run: its queue of deliveries and its consumers."""

    def __init__(self, run, subscription):
        self.run = run
        self.env = run.env
        self.subscription = subscription
        self.broker = subscription.broker
        self.label = f"{subscription.topic}/{subscription.group}"
        self.ready = deque()     # (message, attempt) waiting for a consumer
        self.idle = deque()      # events of consumers waiting for a message
        self.in_progress = 0

    def put(self, message, attempt):
        if self.idle:
            self.idle.popleft().succeed((message, attempt))
        else:
            self.ready.append((message, attempt))

    @property
    def backlog(self):
        """Messages not yet acked or dead-lettered (waiting, being handled or to be redelivered)."""
        return self.run.unsettled[self.label]


def consume(run, group, station):
    """Generator: one consumer of ``group``, for as long as the run lasts."""
    env = run.env
    sub = group.subscription
    broker = group.broker
    recorder = run.recorder
    while True:
        if not station.up:
            yield station.restarted
            continue
        if group.ready:
            message, attempt = group.ready.popleft()
        else:
            wake = Event(env)
            group.idle.append(wake)
            message, attempt = yield wake
            if not station.up:  # went down while idle: give the message back, in order
                group.ready.appendleft((message, attempt))
                continue
        recorder.message("deliver", broker.name, sub.topic, sub.group, message, attempt)
        group.in_progress += 1
        try:
            yield from station.serve(sub.endpoint, message.payload, message.trace, message.span,
                                     (station.name,), kind="consumer")
        except CallError as error:
            group.in_progress -= 1
            if attempt >= broker.max_attempts:
                recorder.message("dead_letter", broker.name, sub.topic, sub.group, message,
                                 attempt)
                recorder.log(message.trace, message.span, station.name, "error",
                             f"dead-lettered to {sub.topic}.dlq after {attempt} attempts: {error}")
                run.settle(group)
            else:
                recorder.message("redeliver", broker.name, sub.topic, sub.group, message,
                                 attempt)
                _redeliver_later(env, group, message, attempt + 1, broker.redelivery_delay)
            continue
        group.in_progress -= 1
        recorder.message("ack", broker.name, sub.topic, sub.group, message, attempt)
        run.settle(group)


def _redeliver_later(env, group, message, attempt, delay):
    if delay == 0:
        group.put(message, attempt)
        return
    timer = Timeout(env, delay)
    timer.callbacks.append(lambda _: group.put(message, attempt))
