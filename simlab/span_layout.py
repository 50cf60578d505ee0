"""From the recorded span rows to the spans table: the client spans of fast-path calls.

A fast-path call (``simlab.calls``) runs the callee inline, in the caller's SimPy process:
its client span starts when the callee's server span starts and ends when it ends, with
its status. So the recorder writes only the server span, with the caller's version
(``caller_version``), and the client span is made from it here, when the table is
built: same trace, start, end and status; the service of the span that made the call
(the caller), the caller's version; operation ``callee.endpoint``; attempt 1. Writing
one row instead of two saved 8 % of the instructions of a request of the tandem
benchmark (four calls: ``benchmarks/instructions.py``).

The ids in the tables are those the spans would have had, had both been written as the
call began, client first: during the run a span is known by its handle (row + 1); in
the tables its id is its handle plus the number of client spans made from rows up to
its own, and a client span's id is the one just before its server span's.
"""

import numpy as np
import pandas as pd

#: A client span's fields that do not come from its server span.
_CLIENT_CONSTANTS = {"kind": "client", "wait": 0.0, "attempt": 1, "fallback": False,
                     "broker": "", "topic": "", "group": "", "message_id": 0}


class SpanLayout:
    """Where each span goes in the table, from the recorded rows (``Rows`` of spans)."""

    def __init__(self, rows):
        self.rows = rows
        called = rows.columns["caller_version"]  # {row: the caller's version}
        self.called = np.sort(np.fromiter(called.keys(), np.int64, len(called)))
        self.caller_versions = np.array([called[row] for row in self.called.tolist()],
                                        dtype=object)
        recorded = len(rows)
        self.length = recorded + len(self.called)
        moved = np.zeros(recorded + 1, np.int64)
        moved[self.called + 1] = 1
        self.ids = np.arange(recorded + 1) + np.cumsum(moved)  # handle -> id (0 -> 0)
        self._server_at = self.ids[1:] - 1           # each row's place in the table
        self._client_at = self.ids[self.called + 1] - 2  # each client span's place

    def place(self, name, values, dtype):
        """The column ``name`` of the table (numpy ``dtype``), from the recorded rows'
        ``values``; span ids (parent_id) come out as ids, not handles."""
        values = np.asarray(values, dtype=dtype) if dtype == object else values
        if name == "parent_id":
            values = self.ids[values]
            values[self.called] = self.ids[self.called + 1] - 1  # called by its client span
        if not len(self.called):
            return values
        column = np.empty(self.length, dtype=dtype)
        column[self._server_at] = values
        column[self._client_at] = self._client_column(name, values)
        return column

    def _client_column(self, name, values):
        """The client spans' values of column ``name``, given the rows' ``values``."""
        if name in _CLIENT_CONSTANTS:
            return _CLIENT_CONSTANTS[name]
        if name == "version":
            return self.caller_versions
        columns = self.rows.columns
        callers = np.frombuffer(columns["parent_id"], np.int64)[self.called]
        if name == "parent_id":
            return self.ids[callers]
        if name == "service":  # the caller: the service of the span that made the call
            return np.asarray(columns["service"], dtype=object)[callers - 1]
        if name == "operation":
            return self._operations()
        mine = values[self.called]
        if name in ("end", "status"):  # a call whose answer never came back never ended
            mine[self._lost()] = np.nan if name == "end" else "in_flight"
        return mine

    def _operations(self):
        """'callee.endpoint' of each client span, one shared string per endpoint."""
        columns = self.rows.columns
        (services, service_names), (operations, operation_names) = (
            pd.factorize(np.asarray(columns[name], dtype=object)[self.called])
            for name in ("service", "operation"))
        pairs, unique_pairs = pd.factorize(services * len(operation_names) + operations)
        names = np.array([f"{service_names[pair // len(operation_names)]}."
                          f"{operation_names[pair % len(operation_names)]}"
                          for pair in unique_pairs.tolist()], dtype=object)
        return names[pairs]

    def _lost(self):
        """Which client spans (their positions in ``called``) never got their answer."""
        lost = self.rows.columns["answer_lost"]
        if not lost:
            return np.empty(0, np.int64)
        return np.searchsorted(self.called, np.fromiter(lost.keys(), np.int64, len(lost)))
