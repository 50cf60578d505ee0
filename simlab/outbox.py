"""The transactional outbox: publish an event *with* the write, never lose it.

**The dual-write problem.** A handler that writes its database and then publishes an
event does two things that can be separated by a crash: the write is kept (the database
is durable), the event is never sent, and downstream never hears of the change.

**The outbox.** ``ctx.outbox(bus, "order-placed", order, key=order.id)`` records the event
in the service's own store, in the same instant as the handler's writes, so both happen
or neither does. A relay of that service publishes what the outbox holds every
``relay_delay`` seconds (a service parameter), pausing while the service is down or the
broker is out, and carries on afterwards. Nothing is lost; events arrive a little later.

**An entry leaves the outbox only when the broker has the message.** While the broker
is out, the relay does not publish at all: not even into the publisher's memory, where
a ``broker_outage(..., publishers="buffer")`` would hold it, because a crash of the
service would lose what that memory holds. The events wait in the outbox, which is
durable, and go out in order when the broker is back.
"""

from collections import deque

from simpy.events import Timeout

from .components import Component


class Outbox(Component):
    """One service's outbox during a run: events written but not yet published. Its
    relay starts with the first event; it is idle when it is empty."""

    def __init__(self, handles, station):
        self.env = handles.env
        self.start_process = handles.start_process
        self.messaging = handles.messaging
        self.station = station
        self.entries = deque()  # (broker, topic, payload, key, context)
        self.relaying = False

    def add(self, context, broker, topic, payload, key):
        self.entries.append((broker, topic, payload, key, context))
        if not self.relaying:
            self.relaying = True
            self.start_process(self._relay())

    def _relay(self):
        """Generator (a process): publish what the outbox holds, in order, until it is empty."""
        station, messaging = self.station, self.messaging
        while self.entries:
            yield Timeout(self.env, station.service.relay_delay)
            while self.entries:
                broker, topic, payload, key, context = self.entries[0]
                outage = messaging.down.get(getattr(broker, "name", broker))
                if not station.up:
                    yield station.restarted
                elif outage is not None:  # wait for the broker, then check again
                    yield outage.restored
                else:
                    messaging.publish(context, broker, topic, payload, key)  # the broker has it
                    self.entries.popleft()
        self.relaying = False

    def idle(self):
        return not self.entries
