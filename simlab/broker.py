"""A message broker: topics, partitions, consumer groups, at-least-once delivery, dead letters.

* A topic is declared first: ``bus.topic("orders")`` or ``bus.topic("orders", partitions=4)``.
* Every consumer group subscribed to a topic gets every message published on it.
* **Without partitions** a topic is a shared queue (RabbitMQ-like): the consumers of a
  group compete for messages, so there is no order between them.
* **With partitions** a topic is a log (Kafka-like): a message's key picks its partition
  (a stable hash), each partition is read by one consumer of the group, in order, and
  consumers beyond the number of partitions sit idle. A failed message is retried in
  place, so the messages behind it wait: order per key holds, even across failures.
* Delivery is at-least-once: a message is acked only after its handler returns. If the
  handler fails (an error, a crash of the consumer's service), it is delivered again
  after ``redelivery_delay``; after ``max_attempts`` failed deliveries it is
  dead-lettered (set aside for that group; ``bus.replay(topic, group, at=...)`` puts the
  dead letters back) and the group moves on.
* ``bus.scale(topic, group, consumers=8, at=20.0)`` changes a group's number of consumers
  during the run (a rebalance): partitions are dealt again. A partition moves to its new
  consumer only once its old one has finished the message in hand, so order per key
  holds across the change.
* Publishing is fire-and-forget: the publisher never waits for the broker.

**Trace context.** A message carries the trace id and span id of its producer span; the
consumer span is a *child* of the producer span in the *same trace*. One request then
shows its whole business flow in one waterfall, synchronous and asynchronous parts
alike. (OpenTelemetry also allows a new trace with a *link* to the producer; that suits
batch consumers, where one span handles many messages. Here each message is handled on
its own, so child-of is the clearer picture.)

**Broken propagation.** ``ctx.publish(..., propagate=False)`` sends a message without
trace context, and a consumer registered with ``propagate=False`` (a legacy one that
ignores it) drops what it gets: either way each handling of the message starts a new
trace, with no parent. The flow splits into unconnected traces, and the log lines of
the consumer no longer carry the first trace's id. (``sl.traces`` shows what is lost.)
"""

import hashlib
import math

from . import checks
from .errors import ModelError
from .resilience import Exponential
from .services import Endpoint


class Subscription:
    """One consumer group of one topic: which service handles it, and how many consumers."""

    def __init__(self, topic, group, service, fn, consumers, idempotent=False, propagate=True):
        self.topic = topic
        self.group = group
        self.service = service
        self.endpoint = Endpoint(service.name, f"consume {topic.name}", fn)
        self.consumers = consumers
        self.idempotent = idempotent
        self.propagate = propagate  # False: its handler ignores the trace context it gets

    @property
    def label(self):
        return f"{self.topic.name}/{self.group}"


class Topic:
    """A declared topic. ``key``: a function of the payload giving the key, used when
    ``publish`` is given none."""

    def __init__(self, broker, name, partitions, key):
        self.broker = broker
        self.name = name
        self.partitions = partitions
        self.key = key
        self.groups = {}  # group name -> Subscription
        self.operation = f"publish {name}"  # the producer span's name
        self.names = (broker.name, name, "")  # for the publish record

    def __repr__(self):
        return f"Topic({self.broker.name}/{self.name}, partitions={self.partitions})"

    def partition_of(self, key, counter):
        """The partition a message goes to: a stable hash of its key (round-robin if none)."""
        if self.partitions is None:
            return 0
        if key is None:
            return counter % self.partitions
        # A cryptographic hash, stable across processes: distinct keys spread over the
        # partitions as if at random (as Kafka's murmur2 does), so a Poisson stream of
        # keys splits into Poisson streams. (CRC32 would not: consecutive ids map to
        # partitions in a regular pattern, and queues would look better than theory.)
        if key.__class__ is int or key.__class__ is str:  # the usual keys: remembered
            hashed = _HASHES.get(key)
            if hashed is None:
                hashed = _remember_hash(key)
            return hashed % self.partitions
        return _stable_hash(key) % self.partitions


_BLAKE2B_8 = hashlib.blake2b(digest_size=8)  # set up once: a copy is cheaper than a new one

# The hashes of the int and str keys seen lately: a key usually comes back (that is what
# keys are for). Forgotten all at once when there are this many.
_HASHES = {}
_HASHES_KEPT = 1 << 16


def _stable_hash(key):
    """A 64-bit hash of ``repr(key)`` (BLAKE2b), the same in every process."""
    hasher = _BLAKE2B_8.copy()
    hasher.update(repr(key).encode())
    return int.from_bytes(hasher.digest(), "big")


def _remember_hash(key):
    """The stable hash of ``key``, kept in ``_HASHES``."""
    if len(_HASHES) >= _HASHES_KEPT:
        _HASHES.clear()
    hashed = _HASHES[key] = _stable_hash(key)
    return hashed


class Broker:
    """A message broker. Create it with ``world.broker(name, ...)``.

    Args:
        topics: names of topics to declare at once (shared queues, no partitions).
        max_attempts: deliveries of one message to one group before it is dead-lettered.
        redelivery_delay: seconds between a failed delivery and the next one, or an
            ``sl.Exponential(base)`` backoff (longer after each failure).
        delivery: "at-least-once" (ack after the handler: nothing lost, duplicates
            possible) or "at-most-once" (ack on receipt: no duplicates, losses possible).
            For effectively-once, keep at-least-once and make the consumer idempotent.
    """

    def __init__(self, world, name, topics=(), max_attempts=5, redelivery_delay=1.0,
                 delivery="at-least-once"):
        self.world = world
        self.name = checks.name("broker", name)
        owner = f"broker {name!r}"
        self.max_attempts = checks.count(owner, "max_attempts", max_attempts)
        if not isinstance(redelivery_delay, Exponential) and (
                not checks.is_number(redelivery_delay) or not 0 <= redelivery_delay < math.inf):
            checks.refuse(owner, "redelivery_delay", "0 or more seconds or an "
                          "sl.Exponential(...)", redelivery_delay)
        self.redelivery_delay = redelivery_delay
        self.delivery = checks.one_of(owner, "delivery", delivery,
                                      ("at-least-once", "at-most-once"),
                                      " (for effectively-once, use at-least-once and an "
                                      "idempotent consumer)")
        self.replays = []  # (topic, group, at)
        self.scalings = []  # (topic, group, consumers, at)
        self.topics = {}
        if isinstance(topics, str) or not hasattr(topics, "__iter__"):
            example = [topics] if isinstance(topics, str) else ["orders"]
            checks.refuse(owner, "topics", f"a list of names, such as {example!r}", topics)
        for topic in topics:
            self.topic(topic)

    def __repr__(self):
        return f"Broker({self.name!r}, topics={list(self.topics)})"

    def topic(self, name, partitions=None, key=None):
        """Declare a topic; ``partitions=None`` makes it a shared queue, a number a log."""
        checks.name("topic", name)
        if name in self.topics:
            raise ModelError(f"broker {self.name!r} already has a topic {name!r}")
        partitions = checks.count(f"topic {self.name}/{name}", "partitions", partitions,
                                  none="a shared queue")
        if key is not None and not callable(key):
            raise ModelError(f"topic {self.name}/{name}: key must be a function of the payload,"
                             f" such as lambda order: order.id; got {key!r}")
        topic = self.topics[name] = Topic(self, name, partitions, key)
        return topic

    def redelivery_delay_for(self, attempt):
        """Seconds to wait after failed delivery number ``attempt``."""
        if isinstance(self.redelivery_delay, Exponential):
            return self.redelivery_delay.delay(attempt)
        return self.redelivery_delay

    def replay(self, topic, group, at):
        """At time ``at``, put the dead letters of ``topic``'s ``group`` back on its queue
        (after the poison has been fixed, say)."""
        self._subscription(topic, group, "replay")
        self.replays.append((topic, group, checks.seconds("replay", "at", at)))

    def scale(self, topic, group, consumers, at):
        """At time ``at``, give ``topic``'s consumer ``group`` this many ``consumers``
        (scaling out or in: a rebalance of the partitions among them)."""
        subscription = self._subscription(topic, group, "scale")
        service = subscription.service
        consumers = checks.count(f"scale {self.name}/{topic}/{group}", "consumers", consumers)
        if service.workers is not None and consumers > service.workers:
            raise ModelError(f"scale {self.name}/{topic}/{group}: {consumers} consumers, but "
                             f"service {service.name!r} has {service.workers} workers and each "
                             f"consumer is one of them; use at most {service.workers} consumers "
                             "or give the service more workers")
        self.scalings.append((topic, group, consumers, checks.seconds("scale", "at", at)))

    def _subscription(self, topic, group, who):
        topic_ = self.get_topic(topic, who)
        if group not in topic_.groups:
            raise ModelError(f"{who}: topic {self.name}/{topic} has no consumer group {group!r};"
                             f" it has {sorted(topic_.groups)}")
        return topic_.groups[group]

    def get_topic(self, name, who):
        topic = self.topics.get(name)
        if topic is None:
            raise ModelError(f"{who}: broker {self.name!r} has no topic {name!r}; known topics: "
                             f"{sorted(self.topics)}. Declare it first with "
                             f"{self.name}.topic({name!r})")
        return topic

    def subscribe(self, topic, group, service, fn, consumers, idempotent=False,
                  propagate=True):
        topic = self.get_topic(topic, f"consumer {service.name}")
        if group in topic.groups:
            raise ModelError(f"topic {self.name}/{topic.name} already has a consumer group "
                             f"{group!r} (handled by {topic.groups[group].service.name!r}); pick "
                             "another group name, or add consumers to that group")
        topic.groups[group] = Subscription(topic, group, service, fn, consumers, idempotent,
                                           propagate)


class Message:
    """One published message; it carries the producer's trace context and writes."""

    __slots__ = ("id", "topic", "key", "partition", "payload", "trace", "span", "published",
                 "writes")

    def __init__(self, id, topic, key, partition, payload, trace, span, published, writes=()):
        self.id = id
        self.topic = topic
        self.key = key
        self.partition = partition
        self.payload = payload
        self.trace = trace
        self.span = span
        self.published = published
        self.writes = writes  # (service, key, version) the producer wrote before publishing
