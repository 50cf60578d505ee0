"""Checks of exercises 03, partitions, order and reading your writes
(``exercises/03-partitions-and-order.ipynb``).

The models are the lessons': ``flash_sale`` (task 1, run as in exercises 02),
``address_book`` (task 2, here with crashes) and ``read_your_writes`` (task 3).
Task 2 is checked the way Maelstrom checks a workload: the learner's handler runs on 24
seeds with random crashes, and the check reads the history for the first counterexample.
"""

import inspect
import statistics

from . import NotYet, ask, interval, number, require, require_no_memory, run, task, watched
from ..scenarios import REMEDIES, read_your_writes
from ..scenarios import address_book as lesson_address_book
from .ex02 import drained_after, sale

CHECK_SEEDS = range(7101, 7125)   # 24 seeds nobody tried in the notebook


# -- task 1: choose the layout ---------------------------------------------------------------

MOST_CONSUMERS = 10     # payments may run at most this many consumers ...
MOST_PARTITIONS = 12    # ... on at most this many partitions
SALE = 1500             # extra orders within 2 s, on top of 50 a second
TARGET_DRAIN = 7.7      # s: the backlog must be gone this long after the sale begins


@task("Task 1 — Choose the layout")
def task1(consumers, partitions):
    consumers = number(consumers, "CONSUMERS_1", 1, MOST_CONSUMERS, whole=True)
    partitions = number(partitions, "PARTITIONS_1", 1, MOST_PARTITIONS, whole=True)
    require(consumers <= partitions,
            f"{consumers} consumers on {partitions} partitions: {consumers - partitions} of them "
            "would sit idle (a partition has one consumer of the group), and you pay for them.")
    drains = [drained_after(sale(50, SALE, consumers, partitions, seed=seed))
              for seed in (7001, 7002, 7003, 7004)]
    mean, half = interval(drains)
    require(mean <= TARGET_DRAIN,
            f"with {consumers} consumers on {partitions} partitions the backlog is gone "
            f"{mean:.1f} s after the sale begins, on average over 4 seeds you had not tried: "
            f"later than {TARGET_DRAIN:g} s. The fluid estimate is a lower bound; look at how "
            "many partitions each consumer gets (sl.plot.partitions) — the busiest consumer "
            "finishes last.")
    return (f"{consumers} consumers on {partitions} partitions drain the sale in {mean:.1f} s "
            f"± {half:.1f} s (4 seeds), within {TARGET_DRAIN:g} s.")


# -- task 2: a version-checked projection ----------------------------------------------------

def address_book(show_address, seed=1, crashes=6, duration=20):
    """Lesson 03's address book (``simlab.scenarios.address_book``) on a shared queue,
    with ``show_address`` as the profile's handler; profile crashes ``crashes`` times at
    random and a failed delivery comes back after 0.2 s."""
    return lesson_address_book(show_address, crashes=crashes, duration=duration,
                               redelivery_delay=0.2, seed=seed)


def _messages_of(result, customer, versions):
    published = result.messages[(result.messages.event == "publish")
                                & (result.messages.key == customer)]
    writes = result.writes[(result.writes.service == "accounts")
                           & (result.writes.key == customer)]
    traces = set(writes.trace_id[writes.version.isin(versions)])
    mine = result.messages[result.messages.trace_id.isin(traces)]
    lines = ["the broker's record of the two changes:"] + ["  " + line for line in mine[
        ["time", "event", "message_id", "attempt"]].round(3).to_string(index=False).splitlines()]
    return "\n".join(lines), published


def _projection_problem(result, seed):
    shown = result.writes[result.writes.service == "profile"].sort_values("time", kind="stable")
    went_back = shown[shown.version < shown.groupby("key").version.cummax()]
    if len(went_back):
        row = went_back.iloc[0]
        previous = shown[(shown.key == row.key) & (shown.time <= row.time)].version.max()
        detail, _ = _messages_of(result, row.key, [row.version, previous])
        return NotYet(
            f"seed {seed}: customer {row.key}'s address went back from version {previous} to "
            f"version {row.version} at t = {row.time:.3f} s (trace {row.trace_id}): an older "
            "change was applied after a newer one. Apply a change only if its version is newer "
            "than the one the profile holds (ctx.db.version(key)), and look at that in the "
            "same step as the write: between two yields, other handlers may write.", detail)
    final = result.writes[result.writes.service == "accounts"].groupby("key").version.max()
    held = shown.groupby("key").version.max().reindex(final.index, fill_value=0)
    behind = final[held < final]
    if len(behind):
        customer = behind.index[0]
        writes = result.writes[(result.writes.service == "accounts")
                               & (result.writes.key == customer)]
        trace = writes.trace_id[writes.version == behind.iloc[0]].iloc[0]
        return NotYet(
            f"seed {seed}: at the end the profile shows version {held[customer]} of customer "
            f"{customer}'s address; accounts holds version {behind.iloc[0]} (trace {trace}), "
            "and every message was handled. A newer change must always be applied, even "
            "after older ones were skipped or came late.")
    return None


@task("Task 2 — A version-checked projection")
def task2(show_address):
    require(inspect.isgeneratorfunction(show_address),
            "show_address must be a handler: a generator function (with yield), as in the stub.")
    crashes = overtaken = 0
    for seed in CHECK_SEEDS:
        handler = watched(show_address)
        result = run(address_book(handler, seed=seed), "address_book(show_address)")
        require_no_memory(handler, "show_address")
        problem = _projection_problem(result, seed)
        if problem:
            raise problem
        crashes += len(result.faults)
        acks = result.messages[result.messages.event == "ack"]
        overtaken += (acks.groupby("key").message_id.diff() < 0).sum()
    return (f"on {len(CHECK_SEEDS)} runs with {crashes} crashes and {overtaken} messages that "
            "overtook an older one of their customer, no address ever went back, and every "
            "profile ended at the latest version.")


# -- task 3: the cheapest cure, wherever -----------------------------------------------------

REGIMES = ((80, 0.012, 1), (500, 0.0015, 2))   # rate, projection work, consumers


def client_p99(remedy, rate, projection_work, consumers, seed, duration=5):
    """(p99 of the client's wait, share of stale reads) in one seeded run."""
    result = read_your_writes(remedy, rate=rate, duration=duration,
                              projection_work=projection_work, consumers=consumers,
                              seed=seed).run()
    return result.requests.latency.quantile(0.99), result.reads.stale.mean()


@task("Task 3 — The cheapest cure, wherever")
def task3(choose_remedy):
    picks = []
    for rate, work, consumers in REGIMES:
        chosen = ask(choose_remedy, rate, work, consumers)
        require(chosen in REMEDIES, f"choose_remedy({rate}, {work}, {consumers}) returned "
                f"{chosen!r}; choose one of {list(REMEDIES)}.")
        case = (f"at {rate} requests/s, a projection of {work * 1000:g} ms with {consumers} "
                f"consumer{'s' if consumers > 1 else ''} (a case you had not tried)")
        seeds = (7301, 7302, 7303, 7304)
        runs = {remedy: [client_p99(remedy, rate, work, consumers, seed) for seed in seeds]
                for remedy in REMEDIES}
        stale = max(share for _, share in runs[chosen])
        require(stale == 0, f"{case}, your choice, {chosen}, leaves {stale:.0%} of the reads "
                "stale: it is no cure.")
        cured = [remedy for remedy in REMEDIES if all(share == 0 for _, share in runs[remedy])]
        best = min(cured, key=lambda remedy: statistics.fmean(p for p, _ in runs[remedy]))
        worse = [mine[0] - theirs[0] for mine, theirs in zip(runs[chosen], runs[best])]
        mean, half = interval(worse)
        require(mean - half <= 0,
                f"{case}, your choice, {chosen}, costs the client more than another cure: its "
                "p99 wait is longer on every one of 4 seeds, beyond doubt. Measure each cure "
                "at the case you are given, on several seeds.")
        picks.append(f"{chosen} at {rate}/s")
    return f"your function picks the cheapest cure in both cases ({', '.join(picks)})."
