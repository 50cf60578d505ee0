"""Telemetry: the one writer of records.

Everything a run observes goes through its ``Recorder``: requests, spans and their
events, log lines, message events, queue samples, faults... Each table (defined in
``simlab.records``) keeps its rows as columns, one compact array or list per field
(moved there from a small buffer of tuples, see ``Rows``), and every row is written by
field name. ``Result`` turns the columns into pandas
DataFrames once, at the end.

Trace context is W3C-style: a trace id shared by every span of one request, and a span
id per span. Ids are counters, not random numbers, so they cost no random draw and the
same seed gives the same ids. During the run a span is known by its row number + 1 (its
handle), so it is closed by that alone. The client span of a fast-path call is not
written: it is made from its server span when the table is built, and the ids of the
table count it (``simlab.span_layout``). Ids stay integers during the run (0: none) and
are formatted as hex when the DataFrames are built.

Memory, a rule for whoever extends simlab: keep what a run records in the tables'
columns (numbers, and names that many rows share), never as one Python object per row
that holds others (a list, a dict, an instance). Arrays of numbers are invisible to
CPython's cycle collector; a million small containers are not, and every collection
would rescan them all (it once cost half the run time, and a collector switched off
for the run). A field whose values are containers (``logs.attributes``) belongs only
to a table with few rows. Live state that refers back to its owner (a cycle) is freed
only by the collector: give the child what it needs instead of its parent.
"""

import gc
import math
import struct
from contextlib import contextmanager

from .records import RECORDED


@contextmanager
def rare_collections():
    """Look for reference cycles every 100,000 young objects instead of every 700, for
    the duration of a run or an export, and restore the thresholds afterwards.

    Both allocate millions of short-lived objects (events, generators, the dicts of an
    export) that form no cycles, so reference counting frees them and CPython's
    frequent searches for cycles were wasted time (15 % of a broker pipeline's run,
    10-20 % of an export). The collector still runs: a cycle someone adds is freed, not
    leaked; nothing is switched off, and the notebook's own objects are not touched.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


# Rows are buffered as tuples and moved into the columns this many at a time.
CHUNK = 4096


def _writer(rows, order=None, constants=None):
    """A function that appends one row, every field named, and returns its row number.

    By default ``add(*, field=value, ...)``, keyword-only. Made from the table's fields,
    as ``collections.namedtuple`` makes its classes, so that the fields are listed in
    one place and fast to write: a row with a field missing or unknown is a
    ``TypeError`` at the line that writes it. With ``order`` (every recorded field's
    name, in an order of the caller's choosing), the values may also be given by
    position in that order: a call with sixteen keywords costs about 1 µs in CPython,
    eight times the same call by position, and the hottest writers pay that per row.
    ``constants`` (name -> value) are fields with the same value on every row this
    writer writes (a consumer group's names): bound here, neither passed nor named in
    ``order``."""
    table = rows.table
    fields = {field.name: field for field in table.recorded}
    constants = constants or {}
    if order is None:
        signature = "*, " + ", ".join(name for name in fields if name not in constants)
    else:
        if sorted([*order, *constants]) != sorted(fields):
            raise ValueError(f"a writer of {table.name} must name each of its fields once: "
                             f"{', '.join(fields)}; got {', '.join([*order, *constants])}")
        signature = ", ".join(order)

    def value(name):
        return f"_value_{name}" if name in constants else name

    row = ", ".join(value(field.name) for field in rows.dense)
    lines = [f"def add({signature}):",
             "    n = len(_buffer)",
             "    row = _flushed[0] + n",
             f"    _buffer.append(({row}{',' if len(rows.dense) == 1 else ''}))"]
    for field in table.recorded:  # the fields kept apart: only where not the default
        if not (field.sparse or field.later):
            continue
        if field.name in constants:  # decided here, once
            if not _same(constants[field.name], field.default):
                lines.append(f"    _{field.name}[row] = _value_{field.name}")
        else:
            lines += [f"    if {field.name} != _default_{field.name}:",
                      f"        _{field.name}[row] = {field.name}"]
    lines += [f"    if n == {CHUNK - 1}:", "        _flush()", "    return row"]
    namespace = {"_buffer": rows.buffer, "_flushed": rows.flushed, "_flush": rows.flush}
    for field in table.recorded:
        if field.sparse or field.later:
            namespace[f"_{field.name}"] = rows._columns[field.name]
            namespace[f"_default_{field.name}"] = field.default
    namespace.update({f"_value_{name}": value for name, value in constants.items()})
    exec("\n".join(lines), namespace)
    add = namespace["add"]
    add.__qualname__ = f"{table.name}.add"
    return add


def _same(a, b):
    return a == b or (a != a and b != b)  # NaN is the default of a float: equal to itself


class Rows:
    """One table's rows during a run, kept as columns (``columns[field]``: an array or a
    list, or for a sparse field a dict {row: value}).

    Writing a value into an array costs a few hundred instructions (it is checked and
    converted one at a time), and most rows have ten of them. So a row is appended as
    one tuple to a buffer, and every ``CHUNK`` rows the buffer is moved into the columns
    at once, each array filled from bytes packed in one call: a third fewer instructions
    for a row of eleven fields, and the columns stay as small as before. A field set
    after its row is written, on every request (a span's end), is declared ``later``: it
    is kept in its own column, made ``CHUNK`` rows longer than the rows written, so that
    setting it never waits for the buffer. Other fields can be set too (``set``), at the
    price of moving the buffer.
    """

    def __init__(self, table):
        self.table = table
        self._columns = {field.name: field.new_column() for field in table.recorded}
        self.dense = [f for f in table.recorded if not (f.sparse or f.later)]  # in the tuple
        self.later = [f for f in table.recorded if f.later]
        self._place = {field.name: i for i, field in enumerate(self.dense)}
        # One value of each later field, to lengthen its column with (times a count).
        self._blank = {field.name: field.new_column() for field in self.later}
        for field in self.later:
            self._blank[field.name].append(field.default)
        self.buffer = []     # the rows written since the last flush, as tuples
        self.flushed = [0]   # how many rows the columns hold (a list: the writers read it)
        self._extend_later(CHUNK)
        self.add = _writer(self)

    def __len__(self):
        return self.flushed[0] + len(self.buffer)

    @property
    def columns(self):
        """The columns, every row written so far in them (a later field's column is
        longer: index it by row, and take the number of rows from ``len``)."""
        self.flush()
        return self._columns

    def column(self, name):
        """The column of field ``name``, exactly one value per row written so far."""
        column = self.columns[name]
        return column[:len(self)] if self.table.field(name).later else column

    def flush(self):
        """Move the rows of the buffer into the columns."""
        buffer = self.buffer
        if not buffer:
            return
        count = len(buffer)
        for field, values in zip(self.dense, zip(*buffer)):
            column = self._columns[field.name]
            if column.__class__ is list:
                column.extend(values)
                continue
            try:
                column.frombytes(struct.pack(f"{count}{column.typecode}", *values))
            except struct.error as error:
                raise TypeError(f"a value of {self.table.name}.{field.name} is not a "
                                f"{field.dtype}: {error}") from None
        buffer.clear()
        self.flushed[0] += count
        self._extend_later(count)

    def _extend_later(self, count):
        for name, blank in self._blank.items():
            self._columns[name].extend(blank * count)

    def writer(self, *order, **constants):
        """``add`` whose values may be passed by position, in the order of the field
        names given here (all of them but the ``constants``, the fields written with the
        same value on every row): for the few writers called on every request."""
        return _writer(self, order, constants)

    def set(self, row, **fields):
        """Change fields of a row written before (a request answered, a fault ended)."""
        for name, value in fields.items():
            if name in self._place and row >= self.flushed[0]:
                self.flush()  # (a field neither later nor sparse, of a row in the buffer)
            self._columns[name][row] = value

    def get(self, row, field):
        column = self._columns[field]
        if isinstance(column, dict):
            return column.get(row, self.table.field(field).default)
        if field in self._place and row >= self.flushed[0]:
            return self.buffer[row - self.flushed[0]][self._place[field]]
        return column[row]

    def clear(self):
        for column in self._columns.values():
            if isinstance(column, dict):
                column.clear()
            else:
                del column[:]
        self.buffer.clear()
        self.flushed[0] = 0
        self._extend_later(CHUNK)


class Recorder:
    """Collects the records of one run: ``recorder.spans``, ``recorder.logs``... are the
    ``Rows`` of each table of ``simlab.records``."""

    # A fixed set of attributes, read at fixed places: the writers are read on every
    # request, and with more than 30 attributes in a ``__dict__`` CPython reads each
    # through a dict lookup (1-2 % of a request's cost).
    __slots__ = ("env", "tables", "_add_span", "_add_called_span", "_add_messaging_span",
                 "_add_instant_span", "_add_message", "_add_log", "_span_end", "_span_status",
                 "_span_wait", "_traces", *(table.name for table in RECORDED))

    def __init__(self, env):
        self.env = env
        self.tables = {table.name: Rows(table) for table in RECORDED}
        for name, rows in self.tables.items():
            setattr(self, name, rows)
        # Writers for the rows written on every request, their fields named here once.
        # A span opens with no end, status or wait yet, and no fallback; a server or
        # client span (most spans) has no messaging names: those are bound, not passed.
        # A fast-path callee's server span names its caller's version (simlab.span_layout).
        opening = dict(end=math.nan, status="in_flight", wait=0.0, fallback=False,
                       answer_lost=False)
        unnamed = dict(broker="", topic="", group="", message_id=0)
        self._add_span = self.spans.writer(
            "trace_id", "parent_id", "service", "operation", "kind", "version", "start",
            "attempt", **opening, **unnamed, caller_version="")
        self._add_called_span = self.spans.writer(
            "trace_id", "parent_id", "service", "operation", "version", "start",
            "caller_version", **opening, **unnamed, kind="server", attempt=0)
        self._add_messaging_span = self.spans.writer(
            "trace_id", "parent_id", "service", "operation", "kind", "version", "start",
            "attempt", "broker", "topic", "group", "message_id", **opening, caller_version="")
        self._add_instant_span = self.spans.writer(
            "trace_id", "parent_id", "service", "operation", "kind", "version", "start",
            "end", "status", "attempt", "broker", "topic", "group", "message_id",
            wait=0.0, fallback=False, caller_version="", answer_lost=False)
        self._add_message = self.messages.writer(
            "time", "event", "broker", "topic", "group", "message_id", "key", "partition",
            "attempt", "trace_id", "span_id")
        self._add_log = self.logs.writer(
            "time", "trace_id", "span_id", "service", "level", "message", "attributes")
        # The fields written after a span opened (when it ends, when it got a worker),
        # by name, once.
        self._span_end = self.spans.columns["end"]
        self._span_status = self.spans.columns["status"]
        self._span_wait = self.spans.columns["wait"]
        self._traces = 0

    def count(self):
        """How many records are kept, in all tables."""
        return sum(len(rows) for rows in self.tables.values())

    def drop(self):
        """Let go of every record (a run stopped by an error has no Result to keep them)."""
        for rows in self.tables.values():
            rows.clear()

    def new_trace(self):
        self._traces += 1
        return self._traces

    # -- spans

    def open_span(self, trace, parent, service, operation, kind, version, attempt=0,
                  broker="", topic="", group="", message_id=0):
        """Start a span now; return its id. Close it with ``close_span``. A producer or
        consumer span names its broker, topic, group and message; other spans none."""
        if broker:  # a producer or consumer span
            return self._add_messaging_span(trace, parent, service, operation, kind, version,
                                             self.env.now, attempt, broker, topic, group,
                                             message_id) + 1
        return self._add_span(trace, parent, service, operation, kind, version, self.env.now,
                              attempt) + 1

    def open_called_span(self, trace, parent, service, operation, version, caller_version):
        """Start now the server span of a fast-path call from the span ``parent`` of a
        caller running ``caller_version``; return its handle. The call's client span is
        made from it when the table is built (``simlab.span_layout``)."""
        return self._add_called_span(trace, parent, service, operation, version, self.env.now,
                                     caller_version) + 1

    def close_span(self, span, status):
        """End span ``span`` now (and the client span made from it, if any)."""
        self._span_end[span - 1] = self.env.now
        self._span_status[span - 1] = status

    def answer_lost(self, span):
        """The answer of the fast-path call served in span ``span`` never reached the
        caller: the call's client span never ends."""
        self.spans.set(span - 1, answer_lost=True)

    def span_count(self):
        """How many spans the table will have: the rows, and the client spans made from
        the server spans of fast-path calls."""
        return len(self.spans) + len(self.spans.columns["caller_version"])

    def instant_span(self, trace, parent, service, operation, kind, version, status="ok",
                     attempt=0, broker="", topic="", group="", message_id=0):
        """A span that starts and ends now (a publish, a call turned away at once): its
        row is written once, ended already."""
        now = self.env.now
        return self._add_instant_span(trace, parent, service, operation, kind, version, now,
                                      now, status, attempt, broker, topic, group,
                                      message_id) + 1

    def span_field(self, span, field):
        return self.spans.get(span - 1, field)

    def span_event(self, trace, span, name, detail="", time=None):
        """Something that happened inside span ``span``: now, or at ``time``."""
        self.span_events.add(trace_id=trace, span_id=span, name=name, detail=detail,
                             time=self.env.now if time is None else time)

    def waited(self, span, since):
        """Span ``span`` waited for a worker from ``since`` until now. (Its "queued" and
        "dequeued" events are made from this when the table is built: no cost here.)"""
        self._span_wait[span - 1] = self.env.now - since

    # -- logs and messages

    def log(self, trace, span, service, level, message, attributes=None):
        """A log line now; ``trace`` and ``span`` are None (0) for a system line."""
        self._add_log(self.env.now, trace or 0, span or 0, service, level, message,
                      {} if attributes is None else attributes)

    def message(self, event, names, message, attempt):
        """A message event; ``names`` is ``(broker, topic, group)``."""
        broker, topic, group = names
        self._add_message(self.env.now, event, broker, topic, group, message.id, message.key,
                          message.partition, attempt, message.trace, message.span)
