"""Checks of exercises 01, synchronous or asynchronous (``exercises/01-sync-vs-async.ipynb``).

The helpers the tasks use (``p99_wait``, ``backlog``) are defined here, so the notebook
and its checks measure the same way.
"""

import math

import pandas as pd

from . import NotYet, ask, interval, number, off_by, proportion_band, require, run, task
from ..scenarios import WORK, WORKERS, shop

GROUP = "payments"   # the payments consumer group of the async shop (topic order-placed)


# -- task 1: availability along a chain ---------------------------------------------------

AVAILABILITY_CASES = (
    {"gateway": 0.02, "orders": 0.04, "payments": 0.10, "inventory": 0.06, "shipping": 0.08,
     "notifications": 0.05},
    {"gateway": 0.05, "orders": 0.03, "payments": 0.02, "inventory": 0.07, "shipping": 0.01,
     "notifications": 0.03},
)


@task("Task 1 — Availability along a chain")
def task1(predict_success):
    checkouts = 0
    for rates in AVAILABILITY_CASES:
        for style in ("sync", "async"):
            guess = number(ask(predict_success, style, dict(rates)),
                           f"predict_success({style!r}, ...)", 0, 1)
            ok = total = 0
            for seed in (5001, 5002, 5003):
                requests = run(shop(style, rate=50, duration=30, seed=seed,
                                    error_rates=rates)).requests
                ok += (requests.outcome == "ok").sum()
                total += len(requests)
            share, half = proportion_band(ok, total)
            direction = off_by(guess, share, half)
            hint = ("A synchronous checkout succeeds only if every service on its path "
                    "succeeds: which services are on it, and how do independent chances "
                    "combine?" if style == "sync" else
                    "Which services must answer before the customer of the async shop hears "
                    "'order accepted'? The others work behind the broker.")
            require(not direction,
                    f"for the {style} shop, with error rates the check drew, your prediction "
                    f"is {direction}: outside the band of {total:,} simulated checkouts. {hint}")
            checkouts += total
    return (f"your predictions hold for both designs and {len(AVAILABILITY_CASES)} sets of "
            f"error rates you had not seen ({checkouts:,} simulated checkouts).")


# -- task 2: enough payments workers for a latency target ------------------------------------

PAYMENTS_WORK = 0.050    # s: mean work per order of the new payments version
ORDERS_WORKERS = 16
TARGET_P99 = 0.350       # s
DURATION = 20            # s of load per run


def p99_wait(payments_workers, rate, seed):
    """The sync shop's p99 wait (s, over successful checkouts) with this many payments
    workers at ``rate`` orders/s, in one seeded run of ``DURATION`` s."""
    result = shop("sync", rate=rate, duration=DURATION, seed=seed,
                  work={"payments": PAYMENTS_WORK},
                  workers={"orders": ORDERS_WORKERS, "payments": int(payments_workers)}).run()
    return result.requests.latency[result.requests.outcome == "ok"].quantile(0.99)


def _p99_band(workers, rate):
    if workers * 1.0 <= rate * PAYMENTS_WORK:       # utilisation >= 1: it never keeps up
        return math.inf, 0.0
    return interval([p99_wait(workers, rate, seed) for seed in range(5101, 5107)])


@task("Task 2 — Enough payments workers for a latency target")
def task2(smallest_workers):
    chosen = []
    for rate in (70, 95):
        workers = number(ask(smallest_workers, rate), f"smallest_workers({rate})", 1, 100,
                         whole=True)
        mean, half = _p99_band(workers, rate)
        case = f"at {rate} orders/s (a load you had not tried), your function chose {workers} workers"
        require(mean - half < TARGET_P99,
                f"{case}: over 6 seeds the p99 wait is above the target, beyond doubt. Too "
                "few: how many orders a second can payments handle with that many workers, "
                "and how busy is it then?")
        fewer, spread = _p99_band(workers - 1, rate)
        require(workers == 1 or fewer + spread >= TARGET_P99,
                f"{case}: but one worker fewer already keeps the p99 below the target, beyond "
                "doubt, over 6 seeds. Look for the smallest number; judge each candidate on "
                "several seeds, not one.")
        chosen.append(f"{workers} at {rate}/s")
    return (f"the smallest numbers of workers, within the spread of 6 seeds: {', '.join(chosen)}.")


# -- task 3: the backlog of an outage --------------------------------------------------------

CAPACITY = WORKERS["payments"] / WORK["payments"]   # orders/s the payments group handles


def backlog(rate, down_for, seed, at=10):
    """Run the async shop at ``rate`` orders/s with payments down for ``down_for`` s from
    ``at``; return (peak backlog of the payments group, seconds from the restart until
    nothing waits in it)."""
    duration = at + down_for + 3 * rate * down_for / (CAPACITY - rate) + 5
    result = shop("async", rate=rate, duration=duration, seed=seed,
                  outage=("payments", at, down_for)).run()
    group = result.queues[result.queues.group == GROUP]
    restart = at + down_for
    drained = group.time[(group.time >= restart) & (group.queued == 0)].min()
    return (group.queued + group.busy).max(), drained - restart


@task("Task 3 — The backlog of an outage")
def task3(predict_backlog):
    for rate, down_for in ((60, 12), (80, 8)):
        answer = ask(predict_backlog, rate, down_for)
        require(isinstance(answer, (tuple, list)) and len(answer) == 2,
                f"predict_backlog({rate}, {down_for}) must return a pair (peak, drain), got "
                f"{answer!r}.")
        peak = number(answer[0], f"the peak of predict_backlog({rate}, {down_for})", 0)
        drain = number(answer[1], f"the drain time of predict_backlog({rate}, {down_for})", 0)
        runs = [backlog(rate, down_for, seed) for seed in (5201, 5202, 5203)]
        case = f"at {rate} orders/s with payments down for {down_for} s (a case you had not tried)"
        mean, half = interval([one[0] for one in runs])
        direction = off_by(peak, mean, half + 0.1 * mean)
        require(not direction, f"{case}, your peak is {direction}: more than 10 % away from "
                "the simulated peaks. What arrives while payments is down?")
        mean, half = interval([one[1] for one in runs])
        direction = off_by(drain, mean, half + 0.2 * mean)
        require(not direction, f"{case}, your drain time is {direction}: more than 20 % away "
                "from the simulated ones. After the restart payments works at its capacity, "
                "and new orders keep arriving meanwhile.")
    return "the fluid estimate: your peaks and drain times match the simulated ones."


# -- task 4: read a trace --------------------------------------------------------------------

def _own_time(result, trace_id):
    spans = result.spans[result.spans.trace_id == trace_id]
    servers = spans[spans.kind == "server"].set_index("span_id")
    calls = spans[spans.kind == "client"].groupby("parent_id").duration.sum()
    own = servers.duration - calls.reindex(servers.index, fill_value=0)
    return own.groupby(servers.service).sum()


@task("Task 4 — Read a trace")
def task4(own_time):
    traces = 0
    for seed in (5301, 5302):
        result = run(shop("sync", rate=50, duration=20, seed=seed))
        ok = result.requests[result.requests.outcome == "ok"].sort_values("latency")
        for trace_id in (result.slowest_trace(), ok.trace_id.iloc[len(ok) // 2],
                         ok.trace_id.iloc[len(ok) // 7]):
            answer = ask(own_time, result, trace_id, name="own_time")
            require(isinstance(answer, (dict, pd.Series)),
                    f"own_time must return a dict (or a pandas Series) of seconds by service, "
                    f"got {type(answer).__name__}.")
            answer = dict(answer)
            truth = _own_time(result, trace_id)
            strange = sorted(set(answer) - set(truth.index), key=str)
            if strange:
                raise NotYet(f"own_time names {strange[0]!r}, which did no work in trace "
                             f"{trace_id} (seed {seed}, a run you had not seen).")
            wrong = [service for service, seconds in truth.items()
                     if not math.isclose(number(answer.get(service, 0.0),
                                                f"own_time(...)[{service!r}]"),
                                         seconds, rel_tol=1e-6, abs_tol=1e-9)]
            if wrong:
                others = f" and {len(wrong) - 1} other service(s)" if len(wrong) > 1 else ""
                raise NotYet(f"for trace {trace_id} of a run you had not seen (seed {seed}), "
                             f"own_time is off for {wrong[0]}{others}. A server span's own "
                             "time is its duration minus the durations of its child client "
                             "spans (parent_id == its span_id); a service may have several "
                             "server spans in one trace.")
            traces += 1
    return f"own_time is right for {traces} traces of runs you had not seen."
