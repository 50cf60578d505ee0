"""The brokers during a run: topics and their consumer groups, outages, dead letters.

``Messaging`` owns the live state of every broker of one run, and is the one place that
changes it: a publish goes through ``publish``, a broker outage through ``take_down``
and ``bring_back``, a dead letter through ``dead_letter``. The parts that act on the
brokers (consumer groups, outbox relays, faults, replays) get it as their ``messaging``
handle (see ``simlab.components.Handles``); none of them keeps a table of its own.

See ``simlab.broker`` for the delivery rules, and ``simlab.consumers`` for the consumer
groups that take the messages from here.
"""

from simpy.events import Event

from .broker import Message
from .errors import CallError, ModelError


class Outage:
    """A broker's outage in progress: how publishers behave, and what they hold back."""

    def __init__(self, publishers, restored):
        self.publishers = publishers
        self.restored = restored  # an event: triggered when the broker is back
        self.held = []            # (publisher, publish) to make when it is back
        self.count = 1            # outages in force (one may meet the next back to back)


class Messaging:
    """The brokers of one run (a component's ``messaging`` handle)."""

    def __init__(self, env, recorder, unknown_topic):
        self.env = env
        self.recorder = recorder
        self.unknown_topic = unknown_topic  # (broker, topic) -> the message of a ModelError
        self.topics = {}        # (broker, topic) -> (Topic, [GroupState, ...])
        self.down = {}          # broker -> its Outage in progress
        self.dead_letters = {}  # (broker, topic, group) -> [message, ...]
        self._messages = 0

    def add_topic(self, broker, topic, groups):
        """Declare ``broker``'s ``topic`` (a ``broker.Topic``) and its consumer groups
        (``consumers.GroupState``), which every publish to it reaches."""
        self.topics[(broker, topic.name)] = (topic, groups)

    def groups(self):
        """Every consumer group of the run, topic by topic."""
        return [group for _, groups in self.topics.values() for group in groups]

    def group_state(self, broker, topic, group):
        """The live state of ``broker``'s ``topic``'s consumer ``group``."""
        _, groups = self.topics[(broker, topic)]
        return next(g for g in groups if g.subscription.group == group)

    # -- publishing

    def publish(self, context, broker, topic, payload, key, propagate=True):
        """Publish ``payload`` from the handler of ``context``: record it and give it to
        each consumer group of the topic, or, while the broker is down, refuse it or hold
        it back (as the outage says)."""
        name = getattr(broker, "name", broker)
        entry = self.topics.get((name, topic))
        if entry is None:
            raise ModelError(self.unknown_topic(name, topic))
        declared, groups = entry
        if key is None and declared.key is not None:
            try:
                key = declared.key(payload)
            except Exception as bug:
                raise ModelError(f"the key function of topic {name}/{topic} raised "
                                 f"{type(bug).__name__}: {bug} (payload {payload!r})") from bug
        if key.__class__ not in (int, str) and key is not None and not _plain_key(key):
            raise ModelError(f"publish to {name}/{topic}: a key must be a str, an int or a "
                             f"tuple of them, such as key=order.id; got {key!r} (its partition "
                             "would depend on where it sits in memory)")
        outage = self.down.get(name)
        if outage is not None:
            if outage.publishers == "fail":
                self.recorder.log(context.trace_id, context.span_id, context.station.name,
                                  "warning", f"broker {name} is down: publish to {topic} refused")
                raise CallError("error", f"publish {topic}", f"broker {name} is down")
            outage.held.append((context.station.name,
                                lambda: self.publish(context, broker, topic, payload, key,
                                                     propagate)))
            self.recorder.log(context.trace_id, context.span_id, context.station.name, "warning",
                              f"broker {name} is down: publish to {topic} held until it is back")
            return
        self._messages += 1
        span = self.recorder.instant_span(
            context.trace_id, context.span_id, context.station.name, declared.operation,
            "producer", context.station.version, broker=name, topic=topic,
            message_id=self._messages)
        # A message carries the writes of the handler that publishes it, and those carried
        # by the message that handler consumed: lineage flows down an event chain.
        carried = context.message.writes if context.message is not None else ()
        writes = carried + tuple(context.writes) if context.writes else carried
        # Without propagation the message carries no trace context (trace and span 0).
        trace, parent = (context.trace_id, span) if propagate else (0, 0)
        message = Message(self._messages, topic, key, declared.partition_of(key, self._messages),
                          payload, trace, parent, self.env.now, writes)
        self.recorder.message("publish", declared.names, message, 0)
        for group in groups:
            group.unsettled += 1
            group.put(message, 1)

    # -- outages

    def take_down(self, broker, publishers):
        """``broker`` goes down: nothing is delivered; a publish fails or is held back
        (``publishers``: "fail" or "buffer"). An outage that meets the one in progress
        keeps the broker down, with the new one's publishers."""
        outage = self.down.get(broker)
        if outage is None:
            self.down[broker] = Outage(publishers, Event(self.env))
        else:
            outage.count += 1
            outage.publishers = publishers

    def bring_back(self, broker):
        """An outage of ``broker`` ends; when none is left in force, the publishes held
        back go out, in order, and the consumers waiting for it carry on."""
        outage = self.down[broker]
        outage.count -= 1
        if outage.count:
            return
        del self.down[broker]
        for _, publish in outage.held:
            publish()
        outage.restored.succeed()

    def drop_held(self, publisher):
        """``publisher`` crashed: the publishes it held back in its memory are gone. The
        number lost in each outage that held some."""
        lost = []
        for outage in self.down.values():
            kept = [entry for entry in outage.held if entry[0] != publisher]
            if len(kept) < len(outage.held):
                lost.append(len(outage.held) - len(kept))
            outage.held = kept
        return lost

    # -- dead letters

    def dead_letter(self, group, message):
        """Keep ``message``, which consumer ``group`` (its names) gave up on."""
        self.dead_letters.setdefault(group, []).append(message)

    def take_dead_letters(self, group):
        """The dead letters of consumer ``group`` (its names), which it no longer keeps."""
        return self.dead_letters.pop(group, [])


def _plain_key(key):
    """Is ``key`` a value with a stable repr (so a stable partition)?"""
    if isinstance(key, (bool, int, float, str)):
        return True
    return isinstance(key, tuple) and all(_plain_key(part) for part in key)
