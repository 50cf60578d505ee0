"""Analyses of a run, each defined once: what lessons, exercises and figures compute.

Every function takes a ``Result`` and returns a pandas DataFrame or Series (or, for a
mean, a number), with the columns listed in its docstring. Figures draw these; lessons
print them.

* Messages: ``message_fates`` (lost, duplicated, dead-lettered: the rules),
  ``delivery_report``, ``anomaly_counts``, ``time_to_dead_letter``, ``time_in_group``.
* Calls and retries: ``calls``, ``attempts_per_call`` (tries the caller made),
  ``sent_per_call`` and ``sent_per_call_over_time`` (requests the target received: the
  load multiplier).
* Consumer groups: ``backlog`` over time, ``backlog_drain`` (peak and drain time).
"""

import numpy as np
import pandas as pd

# A consumer group is named by three columns in every table: its broker, its topic, and
# its own name.
GROUP_KEY = ["broker", "topic", "group"]


def _rows_of_group(frame, topic, group):
    """The rows of ``frame`` about consumer group ``group`` of ``topic``."""
    return frame[(frame.topic == topic) & (frame.group == group)]


# -- messages: what became of each one


def message_fates(result):
    """One row per published message and consumer group that should get it.

    Columns: ``broker``, ``topic``, ``group``, ``message_id``, ``state`` (acked |
    dead_lettered | pending, from ``message_ledger()``), ``attempts`` (deliveries),
    ``published`` (time), ``trace_id``, ``effects`` (deliveries to this group whose
    handler wrote to its store), and three flags:

    * ``lost``: acked with no effect at all (at-most-once can do that). Only for a
      group that writes effects: a group that never writes has nothing to lose.
    * ``duplicate``: its effect happened more than once (at-least-once without an
      idempotent consumer).
    * ``dead_lettered``: in the dead-letter topic at the end.
    """
    ledger = result.message_ledger()
    messages = result.messages
    published = messages[messages.event == "publish"].set_index("message_id")
    ledger["published"] = ledger.message_id.map(published.time)
    ledger["trace_id"] = ledger.message_id.map(published.trace_id)
    writes = result.writes[result.writes.message_id > 0]
    # An effect is one handler run (one span) that wrote, however many keys it wrote.
    effects = writes.groupby(GROUP_KEY + ["message_id"]).span_id.nunique().rename("effects")
    ledger = ledger.merge(effects, how="left", left_on=GROUP_KEY + ["message_id"],
                          right_index=True)
    ledger["effects"] = ledger["effects"].fillna(0).astype(int)
    writers = set(zip(writes.broker, writes.topic, writes.group))
    writes_effects = np.array([names in writers for names in
                               zip(ledger.broker, ledger.topic, ledger.group)], dtype=bool)
    ledger["lost"] = (ledger.state == "acked") & (ledger.effects == 0) & writes_effects
    ledger["duplicate"] = ledger.effects > 1
    ledger["dead_lettered"] = ledger.state == "dead_lettered"
    return ledger


def delivery_report(result):
    """Per consumer group: how its messages ended, and what happened to their effects.

    Columns: ``broker``, ``topic``, ``group``, ``messages``, ``acked``,
    ``dead_lettered``, ``pending``, ``lost`` and ``duplicates`` (counts of
    ``message_fates`` rows).
    """
    fates = message_fates(result)
    rows = []
    for names, group in fates.groupby(GROUP_KEY, sort=False):
        states = group.state.value_counts()
        rows.append({**dict(zip(GROUP_KEY, names)), "messages": len(group),
                     "acked": int(states.get("acked", 0)),
                     "dead_lettered": int(states.get("dead_lettered", 0)),
                     "pending": int(states.get("pending", 0)),
                     "lost": int(group["lost"].sum()),
                     "duplicates": int(group["duplicate"].sum())})
    return pd.DataFrame(rows, columns=GROUP_KEY + ["messages", "acked", "dead_lettered",
                                                 "pending", "lost", "duplicates"])


def anomaly_counts(result):
    """What went wrong in one run, as a Series of counts (lesson 05's ledger).

    * ``lost``: messages acked with no effect (``message_fates``), plus source writes no
      read model ever reflected (``consistency``, state pending: the event was never
      published), each trace counted once;
    * ``duplicates``: messages whose effect happened more than once;
    * ``dead_lettered``: messages in a dead-letter topic at the end;
    * ``compensated`` and ``stuck``: sagas undone, or left half done (stuck, or
      abandoned by an orchestrator that crashed).
    """
    fates = message_fates(result)
    lost_traces = set(fates.trace_id[fates["lost"]])
    pending = result.consistency
    pending = pending[pending.state == "pending"]
    never_sent = pending.trace_id[~pending.trace_id.isin(lost_traces)].nunique()
    outcomes = result.sagas.outcome.value_counts()
    return pd.Series({
        "lost": int(fates["lost"].sum()) + int(never_sent),
        "duplicates": int(fates["duplicate"].sum()),
        "dead_lettered": int(fates["dead_lettered"].sum()),
        "compensated": int(outcomes.get("compensated", 0)),
        "stuck": int(outcomes.get("stuck", 0) + outcomes.get("abandoned", 0)),
    }, name=f"seed {result.seed}")


def time_to_dead_letter(result):
    """One row per dead letter: how long its message took to get there.

    Columns: ``message_id``, ``key``, ``topic``, ``group``, ``published``,
    ``dead_lettered`` (times) and ``seconds`` (from publish to dead letter). A message
    replayed and dead-lettered again has a row each time.
    """
    messages = result.messages
    published = messages[messages.event == "publish"].set_index("message_id").time
    dead = messages[messages.event == "dead_letter"]
    frame = dead[["message_id", "key", "topic", "group"]].reset_index(drop=True)
    frame["published"] = dead.message_id.map(published).to_numpy()
    frame["dead_lettered"] = dead.time.to_numpy()
    frame["seconds"] = frame.dead_lettered - frame.published
    return frame


def time_in_group(result, topic, group):
    """Seconds from publish to the ack that settled each message of one consumer group:
    the W of Little's law for the group. A Series indexed by ``message_id``, in order of
    publishing; messages never acked (dead-lettered, pending) are left out."""
    messages = result.messages
    published = messages[(messages.event == "publish") & (messages.topic == topic)]
    acks = messages[(messages.event == "ack") & (messages.topic == topic)
                    & (messages.group == group)]
    settled = acks.drop_duplicates("message_id", keep="last").set_index("message_id").time
    seconds = settled - published.set_index("message_id").time
    return seconds.dropna().rename("seconds")


# -- calls and retries


def calls(result, target=None, caller=None):
    """One row per synchronous call, with its retries, optionally to one ``target`` service
    and from one ``caller``.

    A call's attempts are the client spans its caller's span made to one endpoint (so
    two calls to the same endpoint from one handler run count as one call). Columns:
    ``trace_id``, ``caller``, ``operation`` ("target.endpoint"), ``parent_id`` (the
    caller's span), ``first`` (when its first attempt began), ``attempts`` (every try,
    including those a circuit breaker or bulkhead turned away) and ``sent`` (the tries
    that left the caller and reached the target).
    """
    spans = result.spans
    tries = spans[spans.kind == "client"]
    if target is not None:
        tries = tries[tries.operation.str.startswith(f"{target}.")]
    if caller is not None:
        tries = tries[tries.service == caller]
    tries = tries.assign(reached=tries.status != "rejected")
    grouped = tries.groupby(["parent_id", "operation"], sort=False)
    frame = grouped.agg(trace_id=("trace_id", "first"), caller=("service", "first"),
                        first=("start", "min"), attempts=("span_id", "size"),
                        sent=("reached", "sum"))
    frame = frame.reset_index()[["trace_id", "caller", "operation", "parent_id", "first",
                                 "attempts", "sent"]]
    frame["sent"] = frame.sent.astype("int64")
    return frame


def _begun_during(frame, during):
    if during is None:
        return frame
    return frame[(frame["first"] >= during[0]) & (frame["first"] < during[1])]


def attempts_per_call(result, target, caller=None, during=None):
    """Mean tries per call to ``target`` (retries included; tries a breaker or bulkhead
    turned away count too): what ``Retry`` costs the *caller*. With failure probability
    p and n attempts it is (1 - p**n) / (1 - p). ``during=(start, end)``: only the calls
    whose first attempt began then. NaN if there was no call."""
    return float(_begun_during(calls(result, target, caller), during).attempts.mean())


def sent_per_call(result, target, caller=None, during=None):
    """Mean requests per call that reached ``target``: the *load multiplier* of retries.
    1 when each call needs one attempt, up to ``Retry.attempts`` when every one fails,
    below 1 when a breaker or bulkhead turns calls away before they leave the caller.
    ``during=(start, end)``: only the calls whose first attempt began then."""
    return float(_begun_during(calls(result, target, caller), during).sent.mean())


def sent_per_call_over_time(result, target, caller=None, window=1.0):
    """``sent_per_call`` per time window, by when each call's first attempt began: a
    Series indexed by the window's start (s); a window with no call has no row."""
    frame = calls(result, target, caller)
    windows = (frame["first"] // window).astype(int)
    series = frame.sent.groupby(windows).mean()
    series.index = series.index * window
    return series.rename("sent_per_call")


# -- consumer groups: backlog


def backlog(result, topic, group):
    """A consumer group's backlog over time, from the samples of ``result.queues``.

    Columns: ``time``, ``queued`` (messages waiting for a consumer), ``busy`` (being
    handled) and ``backlog`` (queued + busy: published, not yet acked). Its mean over
    time is the L of Little's law.
    """
    samples = _rows_of_group(result.queues, topic, group)
    frame = samples[["time", "queued", "busy"]].reset_index(drop=True)
    frame["backlog"] = frame.queued + frame.busy
    return frame


def backlog_drain(result, topic, group, since=None):
    """How big a group's backlog grew, and when it was gone again.

    Returns a Series: ``peak`` (largest backlog sampled), ``peak_at`` (its time),
    ``drained_at`` (the first sample after the peak with nothing waiting for a consumer;
    NaN if that never happened) and ``drained_after`` (``drained_at - since``; by default
    ``since`` is the start of the run's first burst of load, else 0).
    """
    samples = backlog(result, topic, group)
    if since is None:
        since = min((start for start, _, _ in result.bursts), default=0.0)
    if samples.empty:
        raise ValueError(f"no samples of consumer group {group!r} of topic {topic!r}")
    peak = samples.loc[samples.backlog.idxmax()]
    after = samples[(samples.time > peak.time) & (samples.queued == 0)]
    drained_at = after.time.min() if len(after) else np.nan
    return pd.Series({"peak": peak.backlog, "peak_at": peak.time, "drained_at": drained_at,
                      "drained_after": drained_at - since}, name=f"{topic}/{group}")
