"""The transactional outbox: publish an event *with* the write, never lose it.

**The dual-write problem.** A handler that writes its database and then publishes an
event does two things that can be separated by a crash: the write is kept (the database
is durable), the event is never sent, and downstream never hears of the change.

**The outbox.** ``ctx.outbox(bus, "order-placed", order, key=order.id)`` records the event
in the service's own store, in the same instant as the handler's writes, so both happen
or neither does. A relay of that service publishes what the outbox holds every
``relay_delay`` seconds (a service parameter), pausing while the service is down or the
broker is out, and carries on afterwards. Nothing is lost; events arrive a little later.
"""

from collections import deque

from simpy.events import Timeout

from .errors import CallError


class Outbox:
    """One service's outbox during a run: events written but not yet published."""

    def __init__(self, run, station):
        self.run = run
        self.station = station
        self.entries = deque()  # (broker, topic, payload, key, context)
        self.relaying = False

    def add(self, context, broker, topic, payload, key):
        self.entries.append((broker, topic, payload, key, context))
        self.run.outboxed += 1
        if not self.relaying:
            self.relaying = True
            self.run.start_process(self._relay())

    def _relay(self):
        """Generator (a process): publish what the outbox holds, in order, until it is empty."""
        station, env = self.station, self.run.env
        while self.entries:
            yield Timeout(env, station.service.relay_delay)
            while not station.up:
                yield station.restarted
            while self.entries:
                broker, topic, payload, key, context = self.entries[0]
                try:
                    self.run.publish(context, broker, topic, payload, key)
                except CallError:  # the broker is out: keep the event, try again later
                    break
                self.entries.popleft()
                self.run.outboxed -= 1
        self.relaying = False
