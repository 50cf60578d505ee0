"""Wrong answers to every exercise task, which its check must reject (tests/test_exercises.py).

``CHEATS[notebook][task]`` maps a description to the source of a cell that replaces the
task's answer cell. Besides these, every check is tried with its own code pasted as the
answer. Each task has the kinds of wrong answer a learner (or a shortcut) would give: a
number copied from the lesson, the right idea applied to the wrong thing, a policy other
than the one asked for, a shortcut that only looks right on one seed. ``NEVER_SAY`` lists
what a check's failure message must not contain (it would give the answer away).

Why the leftovers of a check (``answer = _peak``) are not here: no check leaves a name in
the notebook, which tests/test_exercises.py asserts around every check cell.
"""

CHEATS = {}
NEVER_SAY = {}

CHEATS["05-async-error-handling.ipynb"] = {
    1: {
        "one step of work: nothing after the write, so no crash falls between write and ack": '''
def invoice(ctx, order):
    yield ctx.work()
    ctx.db.write(order.id, "invoiced")
''',
        "the write moved after the second step of work": '''
def invoice(ctx, order):
    yield ctx.work()
    yield ctx.work()
    ctx.db.write(order.id, "invoiced")
''',
        "a dedup set in a Python variable, which a real crash would lose": '''
SEEN = set()

def invoice(ctx, order):
    yield ctx.work()
    if order.id not in SEEN:
        SEEN.add(order.id)
        ctx.db.write(order.id, "invoiced")
    yield ctx.work()
''',
        "a dedup set in ctx.memory, which a crash empties": '''
def invoice(ctx, order):
    seen = ctx.memory.setdefault("seen", set())
    yield ctx.work()
    if order.id not in seen:
        seen.add(order.id)
        ctx.db.write(order.id, "invoiced")
    yield ctx.work()
''',
        "dedup on the message id, not the order: a republished order is a new message": '''
def invoice(ctx, order):
    yield ctx.work()
    key = ("message", ctx.message.id)
    if ctx.db.version(key) == 0:
        ctx.db.write(key)
        ctx.db.write(order.id, "invoiced")
    yield ctx.work()
''',
        "write only the first time the handler ever runs": '''
def invoice(ctx, order):
    yield ctx.work()
    if ctx.db.version("started") == 0:
        ctx.db.write("started")
        ctx.db.write(order.id, "invoiced")
    yield ctx.work()
''',
    },
    2: {
        "the dual write of the lesson, with an idle relay": '''
def place(ctx, order):
    yield ctx.work()
    ctx.db.write(order.id, "placed")
    yield ctx.work(RENDER)
    ctx.publish("bus", "order-placed", order, key=order.id)

def relay(ctx, tick):
    yield ctx.work(0.001)
''',
        "the built-in ctx.outbox instead of one's own": '''
def place(ctx, order):
    yield ctx.work()
    ctx.db.write(order.id, "placed")
    ctx.outbox("bus", "order-placed", order, key=order.id)
    yield ctx.work(RENDER)

def relay(ctx, tick):
    yield ctx.work(0.001)
''',
        "publish first, write after the render (events for orders never stored)": '''
def place(ctx, order):
    yield ctx.work()
    ctx.publish("bus", "order-placed", order, key=order.id)
    yield ctx.work(RENDER)
    ctx.db.write(order.id, "placed")

def relay(ctx, tick):
    yield ctx.work(0.001)
''',
        "the outbox row in a second step, after the render": '''
def place(ctx, order):
    yield ctx.work()
    ctx.db.write(order.id, "placed")
    yield ctx.work(RENDER)
    ctx.db.write("outbox", (ctx.db.read("outbox") or ()) + (order,))

def relay(ctx, tick):
    yield ctx.work(0.001)
    pending = ctx.db.read("outbox") or ()
    for order in pending:
        ctx.publish("bus", "order-placed", order, key=order.id)
    if pending:
        ctx.db.write("outbox", ())
''',
        "a relay that empties the outbox before it publishes": '''
def place(ctx, order):
    yield ctx.work()
    ctx.db.write(order.id, "placed")
    ctx.db.write("outbox", (ctx.db.read("outbox") or ()) + (order,))
    yield ctx.work(RENDER)

def relay(ctx, tick):
    pending = ctx.db.read("outbox") or ()
    if pending:
        ctx.db.write("outbox", ())
    yield ctx.work(0.01)
    for order in pending:
        ctx.publish("bus", "order-placed", order, key=order.id)
''',
        "an outbox kept in a Python list": '''
OUTBOX = []

def place(ctx, order):
    yield ctx.work()
    ctx.db.write(order.id, "placed")
    OUTBOX.append(order)
    yield ctx.work(RENDER)

def relay(ctx, tick):
    yield ctx.work(0.001)
    while OUTBOX:
        order = OUTBOX.pop(0)
        ctx.publish("bus", "order-placed", order, key=order.id)
''',
    },
    3: {
        "the lesson's numbers, whatever the failure rates": '''
def predict_completed(failure_rates):
    return 0.855

def predict_refunded(failure_rates):
    return 0.145
''',
        "a refund whenever the saga did not complete": '''
def predict_completed(failure_rates):
    return (1 - failure_rates["payments"]) * (1 - failure_rates["inventory"]) * (1 - failure_rates["shipping"])

def predict_refunded(failure_rates):
    return 1 - predict_completed(failure_rates)
''',
        "failure rates added instead of multiplied": '''
def predict_completed(failure_rates):
    return 1 - sum(failure_rates.values())

def predict_refunded(failure_rates):
    return (1 - failure_rates["payments"]) * (failure_rates["inventory"] + failure_rates["shipping"])
''',
        "payments left out (it rarely fails in the lesson)": '''
def predict_completed(failure_rates):
    return (1 - failure_rates["inventory"]) * (1 - failure_rates["shipping"])

def predict_refunded(failure_rates):
    return 1 - (1 - failure_rates["inventory"]) * (1 - failure_rates["shipping"])
''',
    },
    4: {
        "the lesson's policy: 5 attempts, doubling from 0.25 s": '''
MAX_ATTEMPTS_4 = 5
REDELIVERY_4 = sl.Exponential(0.25)
''',
        "a fixed delay, as short and as many as the rules allow": '''
MAX_ATTEMPTS_4 = 6
REDELIVERY_4 = 0.5
''',
        "a first retry that waits out the outage (breaks rule 3)": '''
MAX_ATTEMPTS_4 = 2
REDELIVERY_4 = 4.5
''',
        "more attempts than rule 4 allows": '''
MAX_ATTEMPTS_4 = 12
REDELIVERY_4 = 0.5
''',
        "backoff that outlasts the outage but misses the deadline": '''
MAX_ATTEMPTS_4 = 6
REDELIVERY_4 = sl.Exponential(0.5)
''',
    },
}
NEVER_SAY["05-async-error-handling.ipynb"] = {4: ("Exponential(0.4)", "0.4 s")}

CHEATS["04-failures-and-resilience.ipynb"] = {
    1: {
        "the lesson's row for p = 0.5, n = 3, whatever p and n": '''
def expected_attempts(p, n):
    return 1.75

def retry_share(p, n):
    return 0.75 / 1.75
''',
        "every call makes all its attempts": '''
def expected_attempts(p, n):
    return n

def retry_share(p, n):
    return (n - 1) / n
''',
        "a linear guess: one attempt, plus p for each retry": '''
def expected_attempts(p, n):
    return 1 + p * (n - 1)

def retry_share(p, n):
    return p * (n - 1) / (1 + p * (n - 1))
''',
        "the share of retries taken for the failure probability": '''
def expected_attempts(p, n):
    return (1 - p ** n) / (1 - p)

def retry_share(p, n):
    return p
''',
    },
    2: {
        "the lesson's timeout, 0.15 s, whatever the load and the retries": '''
def safe_timeout(rate, attempts):
    return 0.15
''',
        "Little's law for one attempt: retries forgotten": '''
def safe_timeout(rate, attempts):
    return 0.75 * 8 / rate
''',
        "as short as possible: 30 ms": '''
def safe_timeout(rate, attempts):
    return 0.03
''',
        "no timeout at all (a very long one)": '''
def safe_timeout(rate, attempts):
    return 10
''',
    },
    3: {
        "a customer-side timeout instead of a policy": '''
design = dict(client_timeout=0.2)
''',
        "a fallback that turns failures into answers": '''
design = dict(timeout=0.15, breaker=sl.CircuitBreaker(), fallback="payment pending")
''',
        "switching the slowdown off": '''
design = dict(slow_factor=1)
''',
        "the lesson's timeout alone": '''
design = dict(timeout=0.15)
''',
        "a bulkhead alone: the status page is safe, the failures are slow": '''
design = dict(bulkhead=sl.Bulkhead(6))
''',
        "timeout and budgeted retries, no way to fail fast": '''
design = dict(timeout=0.15, retry=sl.Retry(attempts=3, backoff=sl.Exponential(0.05), jitter="full", budget=0.1))
''',
    },
}

CHEATS["01-sync-vs-async.ipynb"] = {
    1: {
        "the lesson's numbers: 94.1 % sync, 98.0 % async": '''
def predict_success(style, error_rates):
    return 0.941 if style == "sync" else 0.980
''',
        "every service multiplied, whatever the design": '''
def predict_success(style, error_rates):
    return math.prod(1 - rate for rate in error_rates.values())
''',
        "error rates added instead of availabilities multiplied": '''
def predict_success(style, error_rates):
    waits_for = SERVICES if style == "sync" else ("gateway", "orders")
    return 1 - sum(error_rates.get(name, 0.0) for name in waits_for)
''',
        "only the weakest service counts": '''
def predict_success(style, error_rates):
    return 1 - max(error_rates.values())
''',
    },
    2: {
        "just enough workers to keep up (utilisation below 1)": '''
def smallest_workers(rate):
    return math.floor(rate * check.PAYMENTS_WORK) + 1
''',
        "the number that worked at 80 orders/s, whatever the load": '''
def smallest_workers(rate):
    return 6
''',
        "twice the workers the load keeps busy, to be safe": '''
def smallest_workers(rate):
    return math.ceil(2 * rate * check.PAYMENTS_WORK)
''',
    },
    3: {
        "the lesson's measured numbers, whatever the rate and outage": '''
def predict_backlog(rate, down_for):
    return 525, 6.9
''',
        "drained at full capacity, as if no new orders arrived": '''
def predict_backlog(rate, down_for):
    return rate * down_for, rate * down_for / check.CAPACITY
''',
        "a backlog of capacity x outage": '''
def predict_backlog(rate, down_for):
    peak = check.CAPACITY * down_for
    return peak, peak / (check.CAPACITY - rate)
''',
    },
    4: {
        "a guess: payments, the usual suspect": '''
def own_time(result, trace_id):
    return {"payments": 0.1}
''',
        "whole span durations, calls not subtracted": '''
def own_time(result, trace_id):
    spans = result.spans[(result.spans.trace_id == trace_id) & (result.spans.kind == "server")]
    return spans.groupby("service").duration.sum()
''',
        "client spans counted as the caller's own work": '''
def own_time(result, trace_id):
    spans = result.spans[result.spans.trace_id == trace_id]
    return spans[spans.kind == "client"].groupby("service").duration.sum()
''',
    },
}

CHEATS["02-eventual-consistency.ipynb"] = {
    1: {
        "the lesson's 7.2 s, whatever the sale": '''
def predict_drain(burst, rate, consumers, work):
    return 7.2
''',
        "drained at full capacity, as if no new orders arrived": '''
def predict_drain(burst, rate, consumers, work):
    return burst / (consumers / work)
''',
        "the sale drained by the steady rate": '''
def predict_drain(burst, rate, consumers, work):
    return burst / rate
''',
    },
    2: {
        "only the messages waiting, not those being handled": '''
def wait_from_dashboard(samples, arrivals_per_second):
    return samples.queued.mean() / arrivals_per_second
''',
        "Little's law upside down: L x lambda": '''
def wait_from_dashboard(samples, arrivals_per_second):
    return (samples.queued + samples.busy).mean() * arrivals_per_second
''',
        "the peak backlog instead of the average": '''
def wait_from_dashboard(samples, arrivals_per_second):
    return (samples.queued + samples.busy).max() / arrivals_per_second
''',
        "the lesson's 0.46 s": '''
def wait_from_dashboard(samples, arrivals_per_second):
    return 0.46
''',
    },
    3: {
        "no autoscaler: 3 consumers all the way": '''
def predict_peak(burst, react_after):
    return (60 + burst / 2 - 100) * 2
''',
        "the lesson's formula with 8 consumers from the start": '''
def predict_peak(burst, react_after):
    return burst - (8 / 0.030 - 60) * 2
''',
        "the steady orders forgotten": '''
def predict_peak(burst, react_after):
    before = (burst / 2 - 100) * min(react_after, 2)
    return before + max(0.0, burst / 2 - 8 / 0.030) * max(0, 2 - react_after)
''',
        "the backlog keeps growing until the reaction": '''
def predict_peak(burst, react_after):
    return (60 + burst / 2 - 100) * max(react_after, 2)
''',
    },
}

CHEATS["03-partitions-and-order.ipynb"] = {
    1: {
        "the lesson's layout: 8 consumers on 8 partitions": '''
CONSUMERS_1 = 8
PARTITIONS_1 = 8
''',
        "as many of both as allowed: 10 consumers on 12 partitions": '''
CONSUMERS_1 = 10
PARTITIONS_1 = 12
''',
        "more consumers, few partitions": '''
CONSUMERS_1 = 10
PARTITIONS_1 = 2
''',
        "over the budget": '''
CONSUMERS_1 = 12
PARTITIONS_1 = 12
''',
    },
    2: {
        "a check before the work and a write after it": '''
def show_address(ctx, change):
    customer, version = change
    newer = version > ctx.db.version(customer)
    yield ctx.work()
    if newer:
        ctx.db.write(customer)
''',
        "only the next version in sequence: a late one is dropped for good": '''
def show_address(ctx, change):
    customer, version = change
    yield ctx.work()
    if version == ctx.db.version(customer) + 1:
        ctx.db.write(customer)
''',
        "the latest versions kept in a Python dict": '''
LATEST = {}

def show_address(ctx, change):
    customer, version = change
    yield ctx.work()
    if version > LATEST.get(customer, 0):
        LATEST[customer] = version
        ctx.db.write(customer)
''',
        "the first address only, never updated": '''
def show_address(ctx, change):
    customer, version = change
    yield ctx.work()
    if ctx.db.version(customer) == 0:
        ctx.db.write(customer)
''',
    },
    3: {
        "the lesson's winner, read-source, everywhere": '''
def choose_remedy(rate, projection_work, consumers):
    return "read-source"
''',
        "the old exercise's winner, wait-for-version, everywhere": '''
def choose_remedy(rate, projection_work, consumers):
    return "wait-for-version"
''',
        "the lowest p99, stale reads or not": '''
def choose_remedy(rate, projection_work, consumers):
    cost = {remedy: client_p99(remedy, rate, projection_work, consumers, 1)[0] for remedy in REMEDIES}
    return min(cost, key=cost.get)
''',
        "the fewest reads sent to the source, whatever the wait": '''
def choose_remedy(rate, projection_work, consumers):
    return "wait-for-version" if projection_work < 0.005 else "fallback"
''',
    },
}

# Where a task has one right answer per case, its failure messages must not print it (nor
# the simulated p99 that would let a learner work it out).
NEVER_SAY["01-sync-vs-async.ipynb"] = {2: (" ms", "5 workers at 70", "6 workers at 95")}
NEVER_SAY["03-partitions-and-order.ipynb"] = {1: ("9 consumers", "9 partitions"),
                                              3: ("cheapest cure is", "choose wait", "choose read")}
NEVER_SAY["04-failures-and-resilience.ipynb"] = {2: ("timeout of 0.", "s would")}

CHEATS["06-watch-a-request.ipynb"] = {
    1: {
        "blame the slowest service by total time, not by self time": '''
def diagnose(result):
    spans = result.spans
    servers = spans[(spans.kind == "server") & spans.service.isin(SUSPECTS)]
    slowest = servers.groupby("service").duration.mean().idxmax()
    failed = (servers.status == "error").any()
    waited = (servers.wait > 0).mean() > 0.01
    return slowest, "flaky-retries" if failed else "small-pool" if waited else "slow-query"
''',
        "the answer of one practice shop, whatever the shop": '''
def diagnose(result):
    return "pricing", "n-plus-one"
''',
        "the right service by self time, and always the same cause": '''
def diagnose(result):
    spans = result.spans
    servers = spans[(spans.kind == "server") & spans.service.isin(SUSPECTS)]
    children = spans[spans.kind == "client"].groupby("parent_id").duration.sum()
    own = servers.duration - servers.span_id.map(children).fillna(0)
    return own.groupby(servers.service).mean().idxmax(), "slow-query"
''',
        "errors found by the retries' callers: blames the service that retried": '''
def diagnose(result):
    spans = result.spans
    retried = spans[(spans.kind == "client") & (spans.attempt > 1)]
    if len(retried):
        return retried.service.value_counts().index[0], "flaky-retries"
    servers = spans[(spans.kind == "server") & spans.service.isin(SUSPECTS)]
    waited = (servers.wait > 0).groupby(servers.service).mean()
    if waited.max() > 0.05:
        return waited.idxmax(), "small-pool"
    calls = spans[spans.kind == "client"].groupby(["trace_id", "service"]).size()
    calls = calls.groupby("service").mean().drop("frontend")
    if calls.max() > 3:
        return calls.idxmax(), "n-plus-one"
    children = spans[spans.kind == "client"].groupby("parent_id").duration.sum()
    own = servers.duration - servers.wait - servers.span_id.map(children).fillna(0)
    return own.groupby(servers.service).mean().idxmax(), "slow-query"
''',
        "many calls counted over the whole run, not per request": '''
def diagnose(result):
    spans = result.spans
    servers = spans[(spans.kind == "server") & spans.service.isin(SUSPECTS)]
    failed = servers.service[servers.status == "error"].value_counts()
    if len(failed):
        return failed.index[0], "flaky-retries"
    waited = (servers.wait > 0).groupby(servers.service).mean()
    if waited.max() > 0.05:
        return waited.idxmax(), "small-pool"
    calls = spans[(spans.kind == "client") & spans.service.isin(SUSPECTS)].service.value_counts()
    if calls.max() > 3:
        return calls.index[0], "n-plus-one"
    return servers.groupby("service").duration.mean().idxmax(), "slow-query"
''',
    },
    2: {
        "as many workers as the load needs on average (every worker busy 75 % of the time)": '''
WORKERS_2 = 3
''',
        "the healthy shop's 32 workers": '''
WORKERS_2 = 32
''',
        "two workers more than needed, to be safe": '''
WORKERS_2 = 6
''',
        "one worker per 10 checkouts a second": '''
WORKERS_2 = 8
''',
    },
}
NEVER_SAY["06-watch-a-request.ipynb"] = {2: ("4 workers", "WORKERS_2 = 4")}
CHEATS["07-from-commit-to-production.ipynb"] = {
    1: {
        "the lesson's two runners, whatever the rate": '''
def runners_for(commit_rate):
    return 2
''',
        "a huge pool: short lead times, idle runners": '''
def runners_for(commit_rate):
    return 10
''',
        "Little's law with no headroom: runners just busy all the time": '''
def runners_for(commit_rate):
    return max(1, math.ceil(commit_rate * 40))
''',
        "one runner, and let the changes queue": '''
def runners_for(commit_rate):
    return 1
''',
    },
    2: {
        "the lesson's canary, whatever the traffic": '''
def canary_for(traffic):
    return sl.Canary(steps=(0.1, 0.25, 0.5), interval=5.0, failure_limit=2, min_requests=10)
''',
        "a big bang: no canary at all": '''
def canary_for(traffic):
    return sl.Recreate(downtime=0)
''',
        "a canary too fast to see anything: 1-minute steps": '''
def canary_for(traffic):
    return sl.Canary(steps=(0.1, 0.25, 0.5), interval=1)
''',
        "a careful but slow canary: 25-minute steps at any traffic": '''
def canary_for(traffic):
    return sl.Canary(steps=(0.1, 0.25, 0.5), interval=25)
''',
        "strict on too few requests: inconclusive counts as a fail": '''
def canary_for(traffic):
    return sl.Canary(steps=(0.1, 0.25, 0.5), interval=5.0, min_requests=10, inconclusive="fail")
''',
        "a canary that never judges: any error rate passes": '''
def canary_for(traffic):
    return sl.Canary(steps=(0.1, 0.25, 0.5), interval=150 / traffic, max_error_rate=1.0)
''',
        "tuned on one seed: at mid traffic, as few requests a check as that seed let through": '''
def canary_for(traffic):
    per_check = 7 if 10 <= traffic <= 20 else 15
    return sl.Canary(steps=(0.1, 0.25, 0.5), interval=per_check / (0.1 * traffic), min_requests=10,
                     inconclusive="fail")
''',
    },
    3: {
        "nightly batching": '''
design = dict(batching="nightly", runners=2)
''',
        "a huge runner pool that meets the lead time and wastes": '''
design = dict(batching="continuous", runners=8)
''',
        "one runner, continuous: the runner queue explodes": '''
design = dict(batching="continuous", runners=1)
''',
        "hourly trains with two runners: fine, but the runners idle": '''
design = dict(batching="hourly", runners=2)
''',
        "fewer defects, by decree": '''
design = dict(batching="continuous", runners=2, defect_rate=0.0)
''',
        "trains every four hours on one runner": '''
design = dict(batching=sl.Schedule(every=240), runners=1)
''',
    },
}
NEVER_SAY["07-from-commit-to-production.ipynb"] = {1: ("/ 0.75", "75 %"),
                                                   2: ("0.1 * traffic", "inconclusive=\"fail\""),
                                                   3: ("'continuous'", "runners=2")}
