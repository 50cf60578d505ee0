"""Checks of exercises 04, failures and resilience (``exercises/04-failures-and-resilience.ipynb``).

The models the tasks use: ``flaky_world`` (lesson 04's, from ``simlab.scenarios``) and
``slow_payments`` (lesson 04's cascade, shortened), so the notebook and its checks share
one definition.
"""

import math
import statistics

import simlab as sl

from . import NotYet, ask, number, off_by, proportion_band, require, run, task
from ..metrics import calls
from ..scenarios import cascade, flaky_world

ORDERS_WORKERS = 8     # orders' workers in the cascade of lesson 04
SLOW_AT, SLOW_FOR = 15.0, 15.0   # s: payments is 20 times slower from SLOW_AT, for SLOW_FOR


# -- task 1: the arithmetic of retries --------------------------------------------------------

RETRY_CASES = ((0.3, 4), (0.8, 3), (0.6, 6))


@task("Task 1 — The arithmetic of retries")
def task1(expected_attempts, retry_share):
    simulated = 0
    for p, n in RETRY_CASES:
        attempts = number(ask(expected_attempts, p, n), f"expected_attempts({p}, {n})", 1, n)
        share = number(ask(retry_share, p, n), f"retry_share({p}, {n})", 0, 1)
        per_call = []
        for seed in (4001, 4002):
            per_call += calls(run(flaky_world(p, n, seed=seed)), "flaky").attempts.tolist()
        mean = statistics.fmean(per_call)
        half = 3.3 * statistics.stdev(per_call) / math.sqrt(len(per_call))
        direction = off_by(attempts, mean, half)
        require(not direction, f"with p = {p} and n = {n} (a case you had not tried), your "
                f"expected_attempts is {direction}: outside the band of {len(per_call):,} "
                "simulated calls. A call makes its k-th attempt only if the k − 1 before it "
                "failed, and never more than n.")
        sent = sum(per_call)
        retries, band = proportion_band(sent - len(per_call), sent)
        direction = off_by(share, retries, band)
        require(not direction, f"with p = {p} and n = {n}, your retry_share is {direction}: "
                f"outside the band of the {sent:,} requests the simulated service received. Of "
                "all the requests a call sends, how many are its first attempt?")
        simulated += len(per_call)
    return f"both hold in {len(RETRY_CASES)} cases ({simulated:,} simulated calls)."


# -- task 2: a timeout that survives a retry storm -----------------------------------------------

def slow_payments(rate=40, seed=1, slow_factor=20, slow_for=SLOW_FOR, **policies):
    """The cascade of lesson 04, shortened: 45 s of checkouts at ``rate`` and 40 status
    requests a second; payments is ``slow_factor`` times slower from ``SLOW_AT`` for
    ``slow_for`` s. ``policies`` go on orders' call to payments."""
    return cascade(rate=rate, status_rate=40, duration=45, seed=seed, slow_at=SLOW_AT,
                   slow_for=slow_for, slow_factor=slow_factor, **policies)


def health(result, slow_for=SLOW_FOR):
    """Shares that succeeded: status requests during the slowdown, checkouts before it;
    and the p99 latency of the checkouts that arrived during it, whatever their outcome."""
    requests = result.requests
    during = requests[(requests.start >= SLOW_AT) & (requests.start < SLOW_AT + slow_for)]
    before = requests[(requests.load == "checkout") & (requests.start < SLOW_AT)]
    return {"status ok during": (during[during.load == "status"].outcome == "ok").mean(),
            "checkouts ok before": (before.outcome == "ok").mean(),
            "checkout p99 during": during[during.load == "checkout"].latency.quantile(0.99)}


def _mean_health(build, seeds):
    rows = [health(run(build(seed))) for seed in seeds]
    return {name: statistics.fmean(row[name] for row in rows) for name in rows[0]}


TIMEOUT_CASES = ((25, 2), (20, 3), (30, 1))


@task("Task 2 — A timeout that survives a retry storm")
def task2(safe_timeout):
    chosen = []
    for rate, attempts in TIMEOUT_CASES:
        timeout = number(ask(safe_timeout, rate, attempts), f"safe_timeout({rate}, {attempts})",
                         0.001, 10)
        retry = sl.Retry(attempts=attempts) if attempts > 1 else None
        seen = _mean_health(lambda seed: slow_payments(rate, seed, timeout=timeout, retry=retry),
                            (4101, 4102))
        case = (f"at {rate} checkouts/s with {attempts} immediate attempt"
                f"{'s' if attempts > 1 else ''} per call (a case you had not tried)")
        require(seen["status ok during"] >= 0.99,
                f"{case}, your timeout lets the slowdown take orders' workers: only "
                f"{seen['status ok during']:.0%} of status requests succeeded during it. How long "
                "does one checkout hold an orders worker when every attempt times out? Little's "
                "law: workers held = rate × that time.")
        require(seen["checkouts ok before"] >= 0.99,
                f"{case}, your timeout cuts off healthy payments: only "
                f"{seen['checkouts ok before']:.1%} of the checkouts before the slowdown "
                "succeeded. A payment takes 30 ms on average, with a long tail.")
        chosen.append(f"{timeout * 1000:.0f} ms")
    return (f"your timeouts ({', '.join(chosen)}) kept the status page up through every "
            "storm, and cut off no more than 1 % of healthy checkouts.")


# -- task 3: design the policies ----------------------------------------------------------------

POLICIES = ("timeout", "retry", "breaker", "bulkhead")
TARGET_P99 = 0.5       # s: checkouts during the slowdown must get their answer within this
SLOWDOWNS = ((20, SLOW_FOR, 4201), (10, 20, 4202), (40, 8, 4203))   # factor, length, seed


@task("Task 3 — Design the policies")
def task3(design):
    require(isinstance(design, dict), f"design must be a dict of policies, such as "
            f"dict(timeout=0.5); got {design!r}.")
    other = [name for name in design if name not in POLICIES]
    if other:
        why = {"fallback": "a fallback turns failures into answers and would hide them",
               "client_timeout": "the customer giving up is not a policy of orders' call",
               }.get(other[0], "the task is about the policies of orders' call to payments")
        raise NotYet(f"{other[0]!r} is not one of {', '.join(POLICIES)}: {why}.")
    for name, kind in (("retry", sl.Retry), ("breaker", sl.CircuitBreaker),
                       ("bulkhead", sl.Bulkhead)):
        value = design.get(name)
        require(value is None or isinstance(value, kind),
                f"design['{name}'] must be an sl.{kind.__name__}(...), got {value!r}.")
    if design.get("timeout") is not None:
        number(design["timeout"], "design['timeout']", 0.001, 10)
    for factor, length, seed in SLOWDOWNS:
        seen = health(run(slow_payments(40, seed, factor, length, **design)), length)
        case = f"when payments was {factor:g} times slower for {length:g} s (a slowdown you had not seen)"
        require(seen["status ok during"] >= 0.99,
                f"{case}, only {seen['status ok during']:.1%} of status requests succeeded. "
                "Orders' workers are being held by calls to payments.")
        require(seen["checkouts ok before"] >= 0.995,
                f"{case}, only {seen['checkouts ok before']:.2%} of checkouts succeeded before "
                "the slowdown, while payments was healthy. What recovers a rare slow payment "
                "without a storm?")
        require(seen["checkout p99 during"] < TARGET_P99,
                f"{case}, checkouts waited longer than {TARGET_P99 * 1000:.0f} ms (p99) for "
                "their answer. Fail fast: what stops calling a dependency that keeps failing?")
    return (f"your design contained {len(SLOWDOWNS)} different slowdowns: status up, healthy "
            "checkouts served, failing checkouts answered fast.")
