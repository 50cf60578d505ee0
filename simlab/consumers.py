"""Consumer groups during a run: partitions of waiting messages, and the consumers' loop.

See ``simlab.broker`` for the delivery rules this implements.
"""

from collections import deque

from simpy.events import Event, Timeout

from .calls import Chain
from .components import Component
from .errors import CallError


class Consumer:
    """One consumer of a group: the partitions it reads, and its wake-up call when idle."""

    __slots__ = ("partitions", "wake", "next", "leaving")

    def __init__(self):
        self.partitions = [0]  # a shared queue is partition 0; a log deals them in rebalance
        self.wake = None       # an event while it waits for a message
        self.next = 0          # where its round over its partitions starts next time
        self.leaving = False   # it left the group (``bus.scale``): it stops after its message


class GroupState(Component):
    """One consumer group during a run: a queue per partition, the consumers, what is in
    progress. It is idle when every message it was given is acked or dead-lettered."""

    def __init__(self, handles, subscription, consumers):
        self.env = handles.env
        self.messaging = handles.messaging
        self.recorder = handles.recorder
        self.subscription = subscription
        self.label = subscription.label
        self.broker = subscription.topic.broker
        self.at_most_once = self.broker.delivery == "at-most-once"
        self.idempotent = subscription.idempotent
        self.names = (subscription.topic.broker.name, subscription.topic.name,
                      subscription.group)
        # The group's rows of result.messages, its names bound once (see Rows.writer).
        broker, topic, group = self.names
        self._add_message = handles.recorder.messages.writer(
            "time", "event", "message_id", "key", "partition", "attempt", "trace_id",
            "span_id", broker=broker, topic=topic, group=group)
        self.ordered = subscription.topic.partitions is not None
        count = subscription.topic.partitions or 1
        self.queues = [deque() for _ in range(count)]   # (message, attempt) per partition
        self.in_progress = [dict() for _ in range(count)]  # message id -> message
        self.resting = deque()  # consumers with nothing to do, for a shared queue
        self.consumers = []
        self.leaving = []    # consumers that left but still finish their message
        self.owner = []      # partition -> the consumer that reads it (partitioned topics)
        self.unsettled = 0   # deliveries (messages given to the group) not yet settled
        self.rebalance(consumers)

    def start(self, handles):
        station = handles.services[self.subscription.service.name]
        for consumer in self.consumers:
            handles.start_process(consume(handles, self, consumer, station))

    def idle(self):
        return not self.unsettled

    def rebalance(self, count):
        """Give the group ``count`` consumers; return the new ones, whose processes the
        caller starts.

        Partition p is read by consumer p mod count. A consumer that leaves finishes the
        message in hand first, and until then the new consumer of that partition takes
        nothing from it (see ``take``): order per key holds across the change. Scaling
        out brings back consumers still finishing their message before it adds new
        ones, so the group never runs more consumers than it was ever given.
        """
        kept, gone = self.consumers[:count], self.consumers[count:]
        back = self.leaving[:count - len(kept)]
        self.leaving = self.leaving[len(back):]
        for consumer in back:
            consumer.leaving = False
        new = [Consumer() for _ in range(count - len(kept) - len(back))]
        self.consumers = kept + back + new
        for consumer in gone:
            consumer.leaving = True
            self.leaving.append(consumer)
            if consumer in self.resting:
                self.resting.remove(consumer)
            self._wake(consumer)  # an idle one wakes up to leave
        if self.ordered:
            partitions = len(self.queues)
            self.owner = [self.consumers[p % count] for p in range(partitions)]
            for index, consumer in enumerate(self.consumers):
                consumer.partitions = list(range(index, partitions, count))
                consumer.next = 0
                if any(self.queues[p] for p in consumer.partitions):
                    self._wake(consumer)  # an idle one starts on its new partitions
        return new

    def left(self, consumer):
        """``consumer`` has stopped. On a shared queue it may have been woken for a
        message just before it left: pass the wake-up on."""
        self.leaving.remove(consumer)
        if not self.ordered and self.queues[0] and self.resting:
            self._wake(self.resting.popleft())

    def _wake(self, consumer):
        if consumer.wake is not None:
            wake, consumer.wake = consumer.wake, None
            wake.succeed()

    def put(self, message, attempt):
        self.queues[message.partition].append((message, attempt))
        if self.ordered:
            owner = self.owner[message.partition]
            if owner.wake is not None:  # (most often it is busy with a message)
                self._wake(owner)
        elif self.resting:
            self._wake(self.resting.popleft())

    def hand_over(self, partition):
        """The consumer that read ``partition`` before a rebalance has finished with it:
        its new consumer may go on."""
        if self.queues[partition]:
            self._wake(self.owner[partition])

    def take(self, consumer):
        """The next (message, attempt) for ``consumer``, or None; it goes round its partitions.

        A partition of a log is read one message at a time: while a message of it is in
        progress (in the hands of its consumer before a rebalance), it is blocked.
        """
        partitions = consumer.partitions
        if len(partitions) == 1:  # the usual case: one partition (or the shared queue)
            partition = partitions[0]
            queue = self.queues[partition]
            blocked = self.ordered and self.in_progress[partition]
            return queue.popleft() if queue and not blocked else None
        for i in range(len(partitions)):
            partition = partitions[(consumer.next + i) % len(partitions)]
            if self.queues[partition] and not self.in_progress[partition]:
                consumer.next = (consumer.next + i + 1) % len(partitions)
                return self.queues[partition].popleft()
        return None

    def wait(self, consumer):
        consumer.wake = Event(self.env)
        if not self.ordered:
            self.resting.append(consumer)
        return consumer.wake

    def waiting(self, partition):
        """Messages not yet acked in ``partition``, and the publish time of the oldest."""
        queue, busy = self.queues[partition], self.in_progress[partition]
        # Not just the head of the queue: a redelivered or replayed message waits behind
        # newer ones.
        oldest = min((m.published for m, _ in queue), default=None)
        for message in busy.values():
            if oldest is None or message.published < oldest:
                oldest = message.published
        return len(queue) + len(busy), oldest

    # -- the ledger of one delivery. Every message ends acked or dead-lettered (or, at
    #    most once, lost); ``unsettled`` counts the deliveries not settled yet.

    def record(self, event, message, attempt):
        """A row of ``result.messages``: ``event`` of ``message`` in this group, now."""
        self._add_message(self.env.now, event, message.id, message.key, message.partition,
                          attempt, message.trace, message.span)

    def skip_duplicate(self, message, attempt, station):
        """Effectively-once: an idempotent consumer remembers the ids of the messages it
        has applied (in its own store, with the effect), so a redelivered one changes
        nothing. True (and the message acked) if this one is such a duplicate; only for
        an idempotent group."""
        if (self.names, message.id) not in station.store.applied:
            return False
        self.record("ack", message, attempt)
        self.recorder.log(message.trace, message.span, station.name, "info",
                          f"duplicate of message {message.id} ignored (idempotent consumer)")
        self.unsettled -= 1
        return True

    def deliver(self, message, attempt):
        """Record delivery number ``attempt`` of ``message``."""
        self.record("deliver", message, attempt)
        if self.at_most_once:  # acked on receipt: if the handler fails, the message is gone
            self.record("ack", message, attempt)
            self.unsettled -= 1

    def succeeded(self, message, attempt):
        """The handler returned: at-least-once acks now."""
        if not self.at_most_once:
            self.record("ack", message, attempt)
            self.unsettled -= 1

    def failed(self, message, attempt, station, error):
        """The handler failed: the seconds before the next delivery, or None if there
        will be none (dead-lettered after ``max_attempts``, or lost at-most-once)."""
        recorder = self.recorder
        if self.at_most_once:
            recorder.log(message.trace, message.span, station.name, "error",
                         f"delivery of message {message.id} failed after its ack "
                         f"(at-most-once: no redelivery; its effect is lost unless it "
                         f"happened already): {error}")
            return None
        if attempt >= self.broker.max_attempts:
            self.record("dead_letter", message, attempt)
            recorder.log(message.trace, message.span, station.name, "error",
                         f"dead-lettered after {attempt} attempts: {error}")
            self.messaging.dead_letter(self.names, message)
            self.unsettled -= 1
            return None
        self.record("redeliver", message, attempt)
        return self.broker.redelivery_delay_for(attempt)


def consume(handles, group, consumer, station):
    """Generator: one consumer of ``group``, for as long as the run lasts (or until it
    leaves the group)."""
    broker = group.broker
    endpoint = group.subscription.endpoint
    stack = (station.name,)
    propagate = group.subscription.propagate
    env, recorder = handles.env, handles.recorder
    # In a run with a crash scheduled (of any service) a consumer runs in a Chain, for a
    # crash to stop it (see simlab.calls); a run without crashes pays nothing.
    crashes = any(service.crashable for service in handles.services.values())
    chain = Chain(env.active_process) if crashes else None
    broker_down = handles.messaging.down  # (looked up once: the loop runs for every message)
    while True:
        if consumer.leaving:
            group.left(consumer)
            return
        if not station.up:
            yield station.restarted
            continue
        outage = broker_down.get(broker.name)
        if outage is not None:  # the broker is down: nothing is delivered until it is back
            yield outage.restored
            continue
        item = group.take(consumer)
        if item is None:
            yield group.wait(consumer)
            continue
        message, attempt = item
        busy = group.in_progress[message.partition]
        busy[message.id] = message
        # A message put back on a shared queue for later stays in ``in_progress`` (and
        # in the lag) until it is back in the queue.
        requeued = False
        while True:  # deliver it until it is settled
            if group.idempotent and group.skip_duplicate(message, attempt, station):
                break
            group.deliver(message, attempt)
            trace, parent = message.trace, message.span
            if not (propagate and trace):  # no context to continue: a new trace begins
                trace, parent = recorder.new_trace(), 0
            try:
                yield from station.serve(endpoint, message.payload, trace, parent, stack,
                                         kind="consumer", message=message, group=group.names,
                                         chain=chain)
            except CallError as error:
                delay = group.failed(message, attempt, station, error)
                if delay is None:  # dead-lettered, or lost (at-most-once)
                    break
                if not group.ordered:  # a shared queue: back of the line, later
                    _requeue_later(env, group, message, attempt + 1, delay)
                    requeued = True
                    break
                # A partition: retry in place, so that the messages behind it keep their order.
                if delay:
                    yield Timeout(env, delay)
                while not station.up or broker.name in broker_down:
                    if not station.up:
                        yield station.restarted
                    else:
                        yield broker_down[broker.name].restored
                attempt += 1
            else:
                group.succeeded(message, attempt)
                break
        if not requeued:
            del busy[message.id]
            if group.ordered and group.owner[message.partition] is not consumer:
                group.hand_over(message.partition)  # the partition moved in a rebalance


def replay(handles, broker, topic, group, at):
    """Generator (a process): at ``at``, put a group's dead letters back on its queue."""
    yield Timeout(handles.env, at)
    state = handles.messaging.group_state(broker, topic, group)
    letters = handles.messaging.take_dead_letters((broker, topic, group))
    handles.recorder.log(None, None, state.subscription.service.name, "info",
                         f"replaying {len(letters)} dead letters of {broker}/{state.label}")
    for message in letters:
        state.record("replay", message, 0)
        state.unsettled += 1
        state.put(message, 1)


def scale(handles, broker, topic, group, consumers, at):
    """Generator (a process): at ``at``, give a group ``consumers`` consumers."""
    yield Timeout(handles.env, at)
    state = handles.messaging.group_state(broker, topic, group)
    station = handles.services[state.subscription.service.name]
    before = len(state.consumers)
    for consumer in state.rebalance(consumers):
        handles.start_process(consume(handles, state, consumer, station))
    handles.recorder.log(None, None, station.name, "info",
                         f"consumer group {broker}/{state.label} rebalanced: {before} -> "
                         f"{consumers} consumers")


def _requeue_later(env, group, message, attempt, delay):
    def requeue(_=None):
        del group.in_progress[message.partition][message.id]
        group.put(message, attempt)

    if delay == 0:
        requeue()
    else:
        Timeout(env, delay).callbacks.append(requeue)
