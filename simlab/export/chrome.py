"""Chrome Trace Event format: the run as a timeline for ui.perfetto.dev or chrome://tracing.

The file is ``{"traceEvents": [...], "displayTimeUnit": "ms"}``; times are whole
microseconds of simulated time (0 = the start of the run: the format has no calendar
time, so an export's ``epoch`` does not apply). What it shows:

* a **process** per service (``pid``, named by a ``process_name`` metadata event), and one
  per broker for its consumer groups' queues;
* a **complete event** (``"ph": "X"``, ``ts`` and ``dur``) per span, on a **thread**
  (``tid``) of its service. The timeline draws a thread's slices as a stack, so two slices
  on one thread must either nest or not overlap at all. Each span takes a *lane* (a
  thread): a span inside its parent in the same service (a client span inside the server
  span that makes the call) joins its parent's lane; any other span takes the lowest lane
  free at its start (greedy interval partitioning). The number of lanes a service needs
  is how many things it did at once;
* **flow events** (an arrow): ``"ph": "s"`` on the calling span and ``"ph": "f"`` (with
  ``"bp": "e"``, bind to the enclosing slice) on the span it caused, with the same ``id``:
  from each client span to its server span, from each producer span to its consumers;
* **counter events** (``"ph": "C"``): each service's queue (waiting, busy) and each consumer
  group's backlog, from ``result.queues``.
"""

import heapq

import numpy as np

from ..telemetry import rare_collections
from .select import Selection


def _lanes(starts, ends, parents, order):
    """A lane (1, 2 ...) for each of one service's spans, so that slices in a lane nest.

    ``starts``, ``ends``: whole microseconds; ``parents``: the position of each span's
    parent among these spans (-1: not one of them); ``order``: positions by start time,
    a parent before its children.
    """
    lane = [0] * len(starts)
    busy = []    # (end of the lane's outermost slice, lane): lanes in use
    free = []    # lanes whose slices have all ended, lowest first
    stacks = {}  # lane -> positions of its open slices, outermost first
    lanes = 0
    for i in order.tolist():
        start, end, parent = starts[i], ends[i], parents[i]
        # Nest in the parent's lane when the parent is the innermost open slice there.
        if parent >= 0 and lane[parent]:
            stack = stacks[lane[parent]]
            while len(stack) > 1 and ends[stack[-1]] <= start:
                stack.pop()  # ended (the outermost goes when the lane is freed)
            if stack[-1] == parent and ends[parent] >= end:
                stack.append(i)
                lane[i] = lane[parent]
                continue
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane[i] = heapq.heappop(free)
        else:
            lanes += 1
            lane[i] = lanes
        stacks[lane[i]] = [i]
        heapq.heappush(busy, (end, lane[i]))
    return lane


def _micros(times):
    """Simulated seconds as whole microseconds (rounding keeps the order of times, so a
    slice inside another stays inside)."""
    return np.round(np.asarray(times, dtype=float) * 1e6).astype(np.int64)


def _assign_lanes(spans, starts, ends):
    """The lane (tid) of every span, service by service."""
    tids = np.zeros(len(spans), dtype=np.int64)
    position = dict(zip(spans.span_id, range(len(spans))))
    parent = np.array([position.get(p, -1) for p in spans.parent_id], dtype=np.int64)
    services = spans.service.to_numpy()
    for service in dict.fromkeys(services):
        mine = np.flatnonzero(services == service)
        local = np.full(len(spans), -1, dtype=np.int64)
        local[mine] = np.arange(len(mine))
        parents = np.where(parent[mine] >= 0, local[np.maximum(parent[mine], 0)], -1)
        order = np.lexsort((np.arange(len(mine)), -ends[mine], starts[mine]))
        tids[mine] = _lanes(starts[mine].tolist(), ends[mine].tolist(), parents.tolist(), order)
    return tids, parent


def _metadata(name, pid, tid, value):
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "args": {"name": value}}


def trace(selection):
    """The Chrome trace (a dict) of the selection's spans and queue samples."""
    spans, queues = selection.spans, selection.queues
    brokers = [f"broker {name}" for name in dict.fromkeys(queues.broker[queues.kind == "group"])]
    names = list(dict.fromkeys([*selection.result.services, *spans.service])) + brokers
    pids = {name: pid for pid, name in enumerate(names, start=1)}
    events = []
    for name, pid in pids.items():
        events += [_metadata("process_name", pid, 0, name),
                   {"name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0,
                    "args": {"sort_index": pid}}]
    starts, ends = _micros(spans.start), _micros(spans.end)
    tids, parent = _assign_lanes(spans, starts, ends)
    pid = spans.service.map(pids).to_numpy()
    for p, t in sorted(set(zip(pid.tolist(), tids.tolist()))):
        events.append(_metadata("thread_name", p, t, f"lane {t}"))
    for name, kind, p, t, start, end, trace_id, span_id, status in zip(
            spans.operation, spans.kind, pid.tolist(), tids.tolist(), starts.tolist(),
            ends.tolist(), spans.trace_id, spans.span_id, spans.status):
        events.append({"name": name, "cat": kind, "ph": "X", "ts": start, "dur": end - start,
                       "pid": p, "tid": t, "args": {"trace_id": trace_id, "span_id": span_id,
                                                    "status": status}})
    events += _flows(spans, parent, pid, tids, starts)
    events += _counters(queues, pids)
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def _flows(spans, parent, pid, tids, starts):
    """An arrow from each client span to its server span, each producer to its consumers."""
    kinds = spans.kind.to_numpy()
    caused = np.flatnonzero((parent >= 0) & np.isin(kinds, ["server", "consumer"]))
    causes = parent[caused]
    flows = []
    # The arrow leaves the cause when it starts and lands on the span it caused.
    for number, (name, sent, from_pid, from_tid, landed, to_pid, to_tid) in enumerate(zip(
            np.where(kinds[caused] == "consumer", "message", "call").tolist(),
            starts[causes].tolist(), pid[causes].tolist(), tids[causes].tolist(),
            starts[caused].tolist(), pid[caused].tolist(), tids[caused].tolist()), start=1):
        flows += [{"name": name, "cat": "flow", "ph": "s", "id": number, "ts": sent,
                   "pid": from_pid, "tid": from_tid},
                  {"name": name, "cat": "flow", "ph": "f", "bp": "e", "id": number,
                   "ts": landed, "pid": to_pid, "tid": to_tid}]
    return flows


def _counters(queues, pids):
    """Counter events: a service's queue (queued, busy); a consumer group's backlog."""
    is_group = (queues.kind == "group").to_numpy()
    owner = np.where(is_group, "broker " + queues.broker, queues.service)
    name = np.where(is_group, "queue " + queues.topic + " / " + queues.group, "queue")
    return [{"name": n, "ph": "C", "ts": ts, "pid": pids[o], "args": {"queued": q, "busy": b}}
            for n, o, ts, q, b in zip(name.tolist(), owner.tolist(),
                                      _micros(queues.time).tolist(), queues.queued.tolist(),
                                      queues.busy.tolist())]


def chrome_trace(result, trace_ids=None, errors_only=False, window=None):
    """The run as a Chrome/Perfetto trace (a dict); ``trace_ids``, ``errors_only`` and
    ``window`` choose a subset as in ``simlab.export.select``.

    There is no ``epoch``: the format's times are microseconds from any origin (its
    viewers show them from the first event), so they count from the start of the run.
    """
    with rare_collections():
        return trace(Selection(result, trace_ids=trace_ids, errors_only=errors_only,
                               window=window))
