"""Data: every service owns a versioned store; read models follow a source through events.

``ctx.db`` is the store of the service running the handler:

* ``ctx.db.write(key, value)`` stores a new version of ``key`` (1, 2, 3 ...) and returns
  it. Messages the handler publishes afterwards carry the write along, so whoever
  consumes them knows which source write they are applying.
* ``ctx.db.read(key)`` returns the current value (``None`` if never written).
* ``yield ctx.db.wait_for(key, version)`` waits until the store holds ``version`` or later.

A **read model** (a projection, a CQRS query side) is the store of a service whose
consumer is declared with ``view_of="orders"``. Its writes *reflect* a source write:
the version it stores is the source's version carried by the message being handled.
Then simlab can tell, for every write of the source, when it became visible in the view
(``result.consistency``: the lag), and whether a read of the view returned an older
version than the source held at that moment (a **stale read**, in ``result.reads``).
"""

from simpy.events import Event

from . import checks
from .errors import ModelError


class Store:
    """One service's store during a run."""

    def __init__(self, run, service, source):
        self.run = run
        self.env = run.env
        self.records = run.recorder.writes
        # Written on every write, so by position in the order named here, this store's
        # service and source bound once (see Rows.writer).
        self._add_write = self.records.writer(
            "time", "key", "version", "broker", "topic", "group", "message_id", "trace_id",
            "span_id", service=service, source=source or "")
        self.reads = run.recorder.reads
        self.service = service
        self.source = source   # the service this store is a read model of, or None
        self.entries = {}      # key -> (version, value)
        self.history = {}      # key -> [(version, time), ...], kept if a read model follows
        self.followed = False  # ... that is, if some read model follows this store
        self.waiting = {}      # key -> [(version, event), ...]
        self.applied = set()   # (group, message id) of messages an idempotent group applied
        self.remembering = set()  # the idempotent consumer groups that write here, as
                                  # (broker, topic, group)

    def version(self, key):
        entry = self.entries.get(key)
        return 0 if entry is None else entry[0]

    def write(self, context, key, value):
        if self.source is None:
            entry = self.entries.get(key)
            version = 1 if entry is None else entry[0] + 1
        else:
            version = self._reflected_version(context, key)
        now = self.env.now
        self.entries[key] = (version, value)
        if self.followed:  # for the age of stale reads of the read models that follow it
            self.history.setdefault(key, []).append((version, now))
        message = context.message
        if message is not None and self.remembering and context.group in self.remembering:
            self.applied.add((context.group, message.id))
        if message is None:  # outside a consumer
            self._add_write(now, key, version, "", "", "", 0, context.trace_id,
                            context.span_id)
        else:
            broker, topic, group = context.group
            self._add_write(now, key, version, broker, topic, group, message.id,
                            context.trace_id, context.span_id)
        if context.writes is None:
            context.writes = [(self.service, key, version)]
        else:
            context.writes.append((self.service, key, version))
        if self.waiting and key in self.waiting:
            self._wake(key, version)
        return version

    def _wake(self, key, version):
        for waiter in self.waiting.pop(key):
            if waiter[0] <= version:
                waiter[1].succeed(version)
            else:
                self.waiting.setdefault(key, []).append(waiter)

    def _reflected_version(self, context, key):
        message = context.message
        carried = () if message is None else message.writes
        for service, written_key, version in reversed(carried):  # the latest first
            if service == self.source and written_key == key:
                return version
        raise ModelError(
            f"{self.service} is a read model of {self.source!r}, so each of its writes must "
            f"apply a write of {self.source!r} carried by the message being handled; key "
            f"{key!r} has none (the message carries {list(carried)}). Write the key the "
            f"source wrote, and have the source write before it publishes")

    def read(self, context, key):
        version, value = self.entries.get(key, (0, None))
        now = self.run.env.now
        latest, behind = version, 0.0
        if self.source is not None:
            source = self.run.stores[self.source]
            latest = source.version(key)
            if latest > version:  # since the first source write this view has not applied
                behind = now - next(t for v, t in source.history[key] if v > version)
        self.reads.add(time=now, service=self.service, key=key, version=version,
                       source_version=latest, stale=latest > version,
                       versions_behind=latest - version, seconds_behind=behind,
                       trace_id=context.trace_id, span_id=context.span_id)
        return value

    def wait_for(self, key, version):
        event = Event(self.run.env)
        if self.version(key) >= version:
            event.succeed(self.version(key))
        else:
            self.waiting.setdefault(key, []).append((version, event))
        return event


class Database:
    """``ctx.db``: the store of the service running the handler, seen from one handler."""

    __slots__ = ("store", "context")

    def __init__(self, store, context):
        self.store = store
        self.context = context

    def write(self, key, value=None):
        """Store a new version of ``key``; returns the version number."""
        return self.store.write(self.context, key, value)

    def read(self, key):
        """The current value of ``key`` (``None`` if never written); the read is recorded."""
        return self.store.read(self.context, key)

    def version(self, key):
        """The version of ``key`` this store holds (0 if never written)."""
        return self.store.version(key)

    def wait_for(self, key, version):
        """An event to ``yield``: it fires when this store holds ``version`` of ``key``."""
        checks.count("ctx.db.wait_for", "version", version, least=0)
        # Remembered like ctx.work(): a handler that forgets to yield it waited for nothing.
        return self.context._made(self.store.wait_for(key, version))
