"""Resilience policies: retry, backoff and jitter, retry budget, circuit breaker, bulkhead,
fallback, rate limit, and the cascade they are meant to contain.

Two kinds of check:

* **Exact** ones, where the model is built so that the answer can be worked out by hand:
  constant work times, a callee that fails on chosen requests, arrivals one second
  apart. Then every time and every state change must be exactly right.
* **Statistical** ones, where a callee fails at random. The simulated share is then
  compared with the formula within Z = 4 standard errors (SE) of the sampling error,
  and each check also proves that it has *power*: the nearest plausible mistake (one
  attempt too many, say) lies at least Z + 2 SE away, so that mistake would fail the
  test about 98 times in 100.

All runs are seeded, so the tests are deterministic.
"""

import math

import numpy as np
import pytest
from checks import max_overlap, spans_of

import simlab as sl

Z = 4.0      # allowed distance from the formula, in standard errors
POWER = 2.0  # a plausible mistake must lie at least Z + POWER standard errors away
EPS = 1e-9   # float noise in simulated times


# -- helpers


def caller_and_callee(work=0.0, error_rate=0.0, fails=lambda payload: False,
                      waits=lambda payload: 0.0, seed=1, **policies):
    """A world where ``front.go`` calls ``back.get`` with ``policies`` (retry=, breaker=,
    ...). ``back`` waits ``waits(payload)`` seconds, computes ``work``, then fails on the
    payloads for which ``fails`` is true (a business error), and fails at random with
    ``error_rate`` (an unreliable service). Both have unlimited workers, so nothing ever
    queues. The caller logs what it got back."""
    world = sl.World(seed=seed)
    front = world.service("front", workers=None)
    back = world.service("back", workers=None, work=work, error_rate=error_rate)

    @front.endpoint("go")
    def go(ctx, payload):
        value = yield ctx.call("back", "get", payload, **policies)
        ctx.log(f"got {value!r}")

    @back.endpoint("get")
    def get(ctx, payload):
        if waits(payload):
            yield ctx.sleep(waits(payload))
        yield ctx.work()
        if fails(payload):
            raise sl.ServiceError(f"cannot serve request {payload.id}")
        return "fresh"

    return world


def assert_agrees(measured, expected, se, wrong, what):
    """``measured`` is within Z SE of ``expected``; ``wrong`` (a plausible mistake) is far
    enough away that the check would catch it."""
    assert abs(wrong - expected) >= (Z + POWER) * se, (
        f"{what}: SE {se:.4g} is too large to tell {expected:.4g} from {wrong:.4g}; "
        "the run is too short for this check to mean anything")
    assert abs(measured - expected) < Z * se, (
        f"{what}: simulated {measured:.5g}, expected {expected:.5g}, difference "
        f"{(measured - expected) / se:+.1f} SE (allowed: {Z} SE)")


def attempts_distribution(p, n):
    """Mean and variance of the attempts one call makes, with at most ``n`` attempts that
    each fail with probability ``p``: attempt k+1 happens iff the first k all failed."""
    probabilities = [p ** (k - 1) * (1 - p) for k in range(1, n)] + [p ** (n - 1)]
    mean = sum(k * q for k, q in enumerate(probabilities, start=1))
    square = sum(k * k * q for k, q in enumerate(probabilities, start=1))
    return mean, square - mean ** 2


def attempt_gaps(result):
    """Per call (trace), the seconds between the end of one attempt and the start of the
    next: the backoff actually waited. An array of shape (calls, attempts - 1)."""
    client = spans_of(result, "front", "client").sort_values(["trace_id", "start"])
    gaps = [one.start.to_numpy()[1:] - one.end.to_numpy()[:-1]
            for _, one in client.groupby("trace_id", sort=False)]
    return np.array(gaps)


# -- retries: faithful amplification


@pytest.mark.parametrize("p, n", [(0.2, 2), (0.5, 4)])
def test_retries_match_the_geometric_formula(p, n):
    """With attempts that fail independently with probability p, a call makes
    1 + p + ... + p^(n-1) attempts on average and succeeds with probability 1 - p^n."""
    world = caller_and_callee(error_rate=p, retry=sl.Retry(attempts=n))
    world.load(sl.Poisson(rate=1000), target=("front", "go"), duration=12)
    result = world.run()
    calls = len(result.requests)
    attempts = len(spans_of(result, "back", "server"))
    # Each attempt is one client span at the caller and one server span at the callee.
    assert len(spans_of(result, "front", "client")) == attempts

    mean, variance = attempts_distribution(p, n)
    assert math.isclose(mean, sum(p ** k for k in range(n)))
    # The nearest plausible bug is one attempt too many or too few; one too many is
    # closer (p^n away, against p^(n-1)).
    assert_agrees(attempts / calls, mean, math.sqrt(variance / calls),
                  wrong=mean + p ** n, what="attempts per call")

    success = 1 - p ** n
    ok = (result.requests.outcome == "ok").sum()
    assert_agrees(ok / calls, success, math.sqrt(success * (1 - success) / calls),
                  wrong=1 - p ** (n + 1), what="success rate")
    # A call fails only when its last attempt failed: then it made exactly n attempts.
    per_trace = spans_of(result, "front", "client").groupby("trace_id").size()
    failed = result.requests.trace_id[result.requests.outcome == "error"]
    assert (per_trace[failed] == n).all()
    assert (per_trace <= n).all()


def test_each_attempt_is_a_client_span_of_the_same_trace():
    world = caller_and_callee(work=0.1, error_rate=1.0, retry=sl.Retry(attempts=3, backoff=0.2))
    world.load(sl.Users(n=1, think=sl.Constant(5.0)), target=("front", "go"), duration=20)
    result = world.run()
    spans = result.spans
    for trace, one in spans.groupby("trace_id"):
        root = one[one.parent_id == ""]
        client = one[one.kind == "client"].sort_values("start")
        server = one[(one.service == "back") & (one.kind == "server")].sort_values("start")
        assert len(root) == 1 and len(client) == 3 and len(server) == 3
        # Every attempt hangs off the caller's own span, and the callee's span off it.
        assert (client.parent_id == root.span_id.item()).all()
        assert server.parent_id.tolist() == client.span_id.tolist()
        assert (client.status == "error").all()
        # Work 0.1 s, then a 0.2 s backoff before the next attempt.
        assert np.allclose(client.duration, 0.1)
        assert np.allclose(np.diff(client.start), 0.3)


def test_a_caller_that_crashed_makes_no_more_attempts():
    world = caller_and_callee(work=0.1, error_rate=1.0,
                              retry=sl.Retry(attempts=5, backoff=1.0))
    world.load(sl.Users(n=1, think=sl.Constant(1.0)), target=("front", "go"), duration=1.5)
    world.faults.crash("front", at=1.5, duration=0.2)
    result = world.run()
    # The first attempt fails at 1.1 s; the caller crashes at 1.5 s, during the backoff,
    # and its request dies: the retries due at 2.1, 3.2 ... s must never be made.
    assert result.requests.outcome.tolist() == ["error"]
    assert spans_of(result, "back", "server").start.tolist() == [1.0]


# -- backoff and jitter


def failing_calls(retry, calls, seed=1):
    """``calls`` calls (a burst), each failing every attempt after 0.1 s of work; the
    gaps between attempts are the backoff delays. Nothing queues, so calls that overlap
    do not delay one another."""
    world = caller_and_callee(work=0.1, error_rate=1.0, retry=retry, seed=seed)
    world.load(sl.Burst(size=calls, over=1.0), target=("front", "go"))
    gaps = attempt_gaps(world.run())
    assert gaps.shape == (calls, retry.attempts - 1)
    return gaps


def test_constant_backoff_waits_exactly_the_backoff():
    gaps = failing_calls(sl.Retry(attempts=4, backoff=0.25), calls=5)
    assert np.allclose(gaps, 0.25, rtol=0, atol=EPS)


def test_exponential_backoff_grows_by_its_factor_up_to_its_cap():
    retry = sl.Retry(attempts=6, backoff=sl.Exponential(base=0.1, factor=3, cap=1.0))
    gaps = failing_calls(retry, calls=3)
    # 0.1, 0.3, 0.9, then capped: 1.0, 1.0
    assert np.allclose(gaps, [0.1, 0.3, 0.9, 1.0, 1.0], rtol=0, atol=EPS)


BACKOFF = sl.Exponential(base=0.1, factor=2, cap=0.4)
DELAYS = np.array([0.1, 0.2, 0.4, 0.4])  # what BACKOFF waits before retries 1..4
JITTER_CALLS = 400


def jittered(jitter, seed=1):
    return failing_calls(sl.Retry(attempts=5, backoff=BACKOFF, jitter=jitter), JITTER_CALLS,
                         seed=seed)


@pytest.mark.parametrize("jitter, low, high", [
    ("full", 0.0, 1.0),    # uniform in [0, delay]
    ("equal", 0.5, 1.0),   # delay/2 + uniform in [0, delay/2]
])
def test_full_and_equal_jitter_stay_in_their_range(jitter, low, high):
    gaps = jittered(jitter)
    assert (gaps >= low * DELAYS - EPS).all() and (gaps <= high * DELAYS + EPS).all()
    # Uniform over the range: the mean is its middle, with SE (width / sqrt 12) / sqrt N.
    # Without jitter every gap would be the full delay: far outside.
    width = (high - low) * DELAYS
    se = width / math.sqrt(12 * JITTER_CALLS)
    for k in range(len(DELAYS)):
        assert_agrees(gaps[:, k].mean(), (low + high) / 2 * DELAYS[k], se[k],
                      wrong=DELAYS[k], what=f"{jitter} jitter, retry {k + 1}")
    # ... and the draws fill the range, both ends (so the bounds above were tested).
    assert (gaps.min(axis=0) < (low + 0.05 * (high - low)) * DELAYS).all()
    assert (gaps.max(axis=0) > (high - 0.05 * (high - low)) * DELAYS).all()


def test_decorrelated_jitter_stays_between_base_and_three_times_the_previous_delay():
    gaps = jittered("decorrelated")
    base, cap = BACKOFF.base, BACKOFF.cap
    previous = np.column_stack([np.full(len(gaps), base), gaps[:, :-1]])
    assert (gaps >= base - EPS).all()
    assert (gaps <= np.minimum(cap, 3 * previous) + EPS).all()
    # Not a fixed schedule: the draws reach both ends of their ranges, and the cap.
    assert (gaps[:, 0] < base + 0.01).any() and (gaps[:, 0] > 3 * base - 0.01).any()
    assert np.isclose(gaps, cap).any()
    below_cap = gaps[gaps < cap - EPS]
    assert len(np.unique(below_cap)) == len(below_cap) > 0.5 * gaps.size


@pytest.mark.parametrize("jitter", ["full", "equal", "decorrelated"])
def test_jitter_draws_are_seeded(jitter):
    first, again, other = jittered(jitter), jittered(jitter), jittered(jitter, seed=2)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


# -- retry budget


@pytest.mark.parametrize("budget", [0.1, 0.25])
def test_a_retry_budget_caps_retries_per_call(budget):
    """Against a dead callee, 3 attempts per call would triple the load (a retry storm);
    a budget of b allows b retries per call on average."""
    world = caller_and_callee(error_rate=1.0, retry=sl.Retry(attempts=3, budget=budget))
    world.load(sl.Poisson(rate=200), target=("front", "go"), duration=10)
    result = world.run()
    calls = len(result.requests)
    retries = len(spans_of(result, "front", "client")) - calls
    # Not random: each call earns `budget` and each retry spends 1, so the retries made
    # are the retries earned, less what is left over at the end (under 1).
    assert calls * budget - 1 - EPS < retries <= calls * budget + EPS
    assert (result.requests.outcome == "error").all()
    # With less than one retry earned per call, no call ever gets its second retry:
    # each one stops once on an empty budget, and says so.
    assert result.logs.message.str.contains("retry budget spent").sum() == calls


def test_without_a_budget_every_call_retries_in_full():
    world = caller_and_callee(error_rate=1.0, retry=sl.Retry(attempts=3))
    world.load(sl.Poisson(rate=200), target=("front", "go"), duration=10)
    result = world.run()
    calls = len(result.requests)
    assert len(spans_of(result, "front", "client")) - calls == 2 * calls


def test_retry_only_retries_the_kinds_it_is_told_to():
    # Errors are not in `on`: one attempt each, however many are allowed.
    world = caller_and_callee(error_rate=1.0, retry=sl.Retry(attempts=5, on=("timeout",)))
    world.load(sl.Poisson(rate=50), target=("front", "go"), duration=2)
    result = world.run()
    assert len(result.requests) > 50
    assert len(spans_of(result, "front", "client")) == len(result.requests)


# -- circuit breaker: its state machine, step by step


# A user sends request n at second n (n = 1, 2, ...), and back fails requests in FAILS.
# With a window of 4 calls, at least 3 calls before judging, 50 % to open, 2.5 s open and
# 2 probes, the breaker must go through exactly these states (worked out by hand):
FAILS = {1, 4, 8, 13, 14, 20, 25, 26}
BREAKER = sl.CircuitBreaker(failure_rate=0.5, window=4, minimum_calls=3, open_for=2.5, probes=2)
EXPECTED_STATES = [
    (1.0, "closed"),      # created by the first call
    (4.0, "open"),        # window F ok ok F: 2 of 4 failed, reaching 50 %
    (6.5, "half_open"),   # 2.5 s later; requests 5 and 6 were rejected meanwhile
    (8.0, "open"),        # probe 7 succeeded, probe 8 failed: open again
    (10.5, "half_open"),  # (9 and 10 rejected)
    (12.0, "closed"),     # probes 11 and 12 both succeeded; the window starts afresh
    # 13 and 14 fail, but 2 calls are fewer than minimum_calls: still closed ...
    (15.0, "open"),       # ... until 15 makes 3 calls, 2 of them failed (67 %)
    (17.5, "half_open"),  # (16 and 17 rejected)
    (19.0, "closed"),     # probes 18 and 19 succeeded
    # 20 fails, 21-24 succeed: the failure of 20 slides out of the 4-call window, so
    (26.0, "open"),       # 25 and 26 make it F F of ok ok F F: 2 of the last 4 failed
    (28.5, "half_open"),  # (27 and 28 rejected), and the run ends after request 29
]
REJECTED = {5, 6, 9, 10, 16, 17, 27, 28}


@pytest.fixture(scope="module")
def breaker_run():
    world = caller_and_callee(fails=lambda payload: payload.id in FAILS, breaker=BREAKER)
    world.load(sl.Users(n=1, think=sl.Constant(1.0)), target=("front", "go"), duration=30)
    return world.run()


def test_breaker_goes_through_exactly_the_expected_states(breaker_run):
    breakers = breaker_run.breakers
    assert (breakers.caller == "front").all() and (breakers.target == "back").all()
    assert list(zip(breakers.time, breakers.state)) == EXPECTED_STATES


def test_calls_to_an_open_breaker_are_rejected_at_once(breaker_run):
    requests = breaker_run.requests.set_index("request_id")
    assert requests.start.tolist() == [float(n) for n in range(1, 30)]  # the schedule held
    expected = {n: "rejected" if n in REJECTED else "error" if n in FAILS else "ok"
                for n in requests.index}
    assert requests.outcome.to_dict() == expected
    rejected = requests[requests.outcome == "rejected"]
    assert (rejected.latency == 0).all()
    assert rejected.reason.str.contains("circuit breaker open").all()
    # The caller has a "rejected" client span; the callee never heard of the request.
    client = spans_of(breaker_run, "front", "client").set_index("trace_id")
    assert (client.status.loc[rejected.trace_id] == "rejected").all()
    assert (client.duration.loc[rejected.trace_id] == 0).all()
    callee = spans_of(breaker_run, "back", "server")
    assert set(callee.trace_id).isdisjoint(rejected.trace_id)
    assert len(callee) == 29 - len(REJECTED)


def test_a_half_open_breaker_lets_only_its_probes_through():
    """Two requests arrive together while half-open with probes=1: one probes, the other
    is rejected."""
    world = caller_and_callee(work=0.5, fails=lambda payload: payload.id == 1,
                              breaker=sl.CircuitBreaker(failure_rate=1.0, window=1,
                                                        minimum_calls=1, open_for=2.0))
    world.load(sl.Users(n=2, think=sl.Constant(3.0)), target=("front", "go"), duration=7)
    result = world.run()
    # Both users send at 3 s: request 1 fails at 3.5 s and opens the breaker; request 2
    # succeeds at 3.5 s but the breaker is already open (its answer is ignored).
    # At 6.5 s (open 3.5 + 2.0 half-open) both send again: one probe, one rejection.
    assert list(zip(result.breakers.time, result.breakers.state)) == [
        (3.0, "closed"), (3.5, "open"), (5.5, "half_open"), (7.0, "closed")]
    requests = result.requests
    later = requests[requests.start == 6.5]
    assert sorted(later.outcome) == ["ok", "rejected"]


def test_an_answer_to_a_call_made_before_opening_is_not_a_probe():
    # Request 1 takes 3 s and succeeds; requests 2 and 3 fail at once.
    world = caller_and_callee(
        waits=lambda payload: 3.0 if payload.id == 1 else 0.0,
        fails=lambda payload: payload.id > 1,
        breaker=sl.CircuitBreaker(failure_rate=0.5, window=2, minimum_calls=2, open_for=1.0))
    for at in (0.5, 1.0, 1.5):  # one user per request: thinks `at`, sends, is then done
        world.load(sl.Users(n=1, think=sl.Constant(at)), target=("front", "go"),
                   duration=1.5 * at)
    result = world.run()
    # Opened at 1.5 s by requests 2 and 3; half-open at 2.5 s; request 1 answers at 3.5 s,
    # but it is not a probe: with no probe made, the breaker stays half-open.
    assert list(zip(result.breakers.time, result.breakers.state)) == [
        (0.5, "closed"), (1.5, "open"), (2.5, "half_open")]


# -- bulkhead


def test_bulkhead_lets_max_concurrent_in_and_max_waiting_wait():
    world = caller_and_callee(work=1.0, bulkhead=sl.Bulkhead(max_concurrent=3, max_waiting=2))
    world.load(sl.Burst(size=20, over=0.5), target=("front", "go"))
    result = world.run()
    client = spans_of(result, "front", "client").sort_values("start")
    # 20 calls arrive within 0.5 s, each taking 1 s: 3 go in, 2 wait, 15 are turned away.
    assert (client.status == "rejected").sum() == 15
    assert (client[client.status == "rejected"].duration == 0).all()
    admitted = client[client.status == "ok"]
    assert len(admitted) == 5
    assert max_overlap(admitted.start.to_numpy(), admitted.end.to_numpy()) == 3
    # The two that waited start the moment the first two places are freed.
    first, waited = admitted.iloc[:3], admitted.iloc[3:]
    assert np.allclose(waited.start.to_numpy(), np.sort(first.end.to_numpy())[:2])
    # The callee saw only the admitted calls.
    assert len(spans_of(result, "back", "server")) == 5
    assert (result.requests.outcome == "rejected").sum() == 15


def test_bulkhead_never_exceeds_max_concurrent_under_random_load():
    world = caller_and_callee(work=sl.Exp(mean=0.1),
                              bulkhead=sl.Bulkhead(max_concurrent=4, max_waiting=3))
    world.load(sl.Poisson(rate=50), target=("front", "go"), duration=20)
    result = world.run()
    client = spans_of(result, "front", "client")
    admitted = client[client.status != "rejected"]
    # Offered load is 5 calls at once on average against 4 places: the bulkhead is full
    # often, so both limits are really exercised.
    assert max_overlap(admitted.start.to_numpy(), admitted.end.to_numpy()) == 4
    assert (client.status == "rejected").sum() > 50
    # A call is turned away only when all 4 places are taken (and 3 calls wait).
    for time in client[client.status == "rejected"].start:
        inside = ((admitted.start <= time) & (admitted.end > time)).sum()
        assert inside == 4


# -- fallback


def test_fallback_value_makes_the_request_ok():
    world = caller_and_callee(error_rate=1.0, fallback="cached")
    world.load(sl.Poisson(rate=20), target=("front", "go"), duration=5)
    result = world.run()
    assert len(result.requests) > 50
    assert (result.requests.outcome == "ok").all()
    got = result.logs[result.logs.message.str.startswith("got")]
    assert (got.message == "got 'cached'").all() and len(got) == len(result.requests)
    # The failure is not hidden from the trace: the attempt's client span is an error.
    assert (spans_of(result, "front", "client").status == "error").all()


def test_fallback_function_receives_the_final_error():
    world = caller_and_callee(
        fails=lambda payload: payload.id % 2 == 0, retry=sl.Retry(attempts=2),
        fallback=lambda error: f"{error.kind} at {error.where}")
    world.load(sl.Poisson(rate=20), target=("front", "go"), duration=5)
    result = world.run()
    assert (result.requests.outcome == "ok").all()
    got = result.logs[result.logs.message.str.startswith("got")].message
    assert set(got) == {"got 'fresh'", "got 'error at back.get'"}
    # Even requests (every attempt fails) get the fallback, after both attempts.
    assert (got == "got 'error at back.get'").sum() == (result.requests.request_id % 2 == 0).sum()


def test_fallback_also_covers_a_rejection_by_the_breaker(breaker_run):
    world = caller_and_callee(fails=lambda payload: payload.id in FAILS, breaker=BREAKER,
                              fallback=None)
    world.load(sl.Users(n=1, think=sl.Constant(1.0)), target=("front", "go"), duration=30)
    result = world.run()
    assert (result.requests.outcome == "ok").all()
    # The breaker behaved as without the fallback: the fallback hides failures from the
    # client, not from the breaker.
    assert result.breakers.equals(breaker_run.breakers)


# -- rate limit (token bucket)


def rate_limited(arrivals, rate=20.0, burst=5, duration=30.0):
    world = sl.World(seed=3)
    api = world.service("api", workers=None, rate_limit=sl.TokenBucket(rate=rate, burst=burst))

    @api.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()

    if isinstance(arrivals, sl.Burst):
        world.load(arrivals, target=("api", "get"), start=duration)
    else:
        world.load(arrivals, target=("api", "get"), duration=duration)
    return world.run().requests


def test_token_bucket_admits_rate_times_duration_plus_burst():
    requests = rate_limited(sl.Poisson(rate=200.0))
    admitted = (requests.outcome == "ok").sum()
    # The bucket starts full (5 tokens) and earns 20 a second for 30 s. Requests come 10
    # times faster than tokens, so a token is taken almost as soon as it is earned:
    # nothing is wasted (the bucket never fills up again), and at most the fraction of a
    # token being earned, plus the one earned after the last arrival, is left unused.
    assert 20.0 * 30 + 5 - 2 <= admitted <= 20.0 * 30 + 5
    assert (requests.outcome == "rejected").sum() == len(requests) - admitted
    # Past the first second the rate is the bucket's, 20 a second.
    later = requests[(requests.start >= 10) & (requests.start < 20)]
    assert abs((later.outcome == "ok").sum() - 200) <= 2


def test_after_a_quiet_spell_a_burst_gets_exactly_the_bucket_through():
    # 30 s without a request fill the bucket to its 5 tokens, and no more; then 20
    # requests within 10 ms (0.2 of a token earned meanwhile): 5 pass, 15 are rejected.
    requests = rate_limited(sl.Burst(size=20, over=0.01))
    assert requests.outcome.value_counts().to_dict() == {"ok": 5, "rejected": 15}
    assert (requests.outcome.iloc[:5] == "ok").all()  # first come, first served


def test_token_bucket_under_its_rate_rejects_nothing():
    # 2 requests a second against 20 tokens a second and a burst of 5: never 5 within
    # the quarter second it takes to earn them back (for this seed).
    requests = rate_limited(sl.Poisson(rate=2.0))
    assert len(requests) > 40
    assert (requests.outcome == "ok").all()


# -- the cascade scenario (lesson 03)


SLOW_AT, SLOW_FOR = 20.0, 15.0  # the scenario's payments slowdown (factor 20)


def outcomes_between(result, load, start, end):
    requests = result.requests
    chosen = requests[(requests.load == load) & (requests.start >= start) &
                      (requests.start < end)]
    return chosen.outcome.value_counts().to_dict()


@pytest.fixture(scope="module")
def unprotected():
    return sl.scenarios.cascade(slow_at=SLOW_AT, slow_for=SLOW_FOR).run()


@pytest.fixture(scope="module")
def protected():
    return sl.scenarios.cascade(
        slow_at=SLOW_AT, slow_for=SLOW_FOR, timeout=0.1,
        breaker=sl.CircuitBreaker(failure_rate=0.5, window=20, minimum_calls=10, open_for=1.0),
        bulkhead=sl.Bulkhead(max_concurrent=4), fallback="queued").run()


def test_without_policies_status_requests_fail_during_the_slowdown(unprotected):
    """Status lookups never touch payments, yet they fail: the cascade.

    From 20 s payments needs 0.6 s a charge, so its 4 workers finish 6.7 charges a
    second while 40 checkouts a second arrive. Each waiting checkout holds one of orders'
    8 workers, so within 8 / (40 - 6.7) = 0.25 s all of them are held, and orders' queue
    (status lookups included) grows by some 70 requests a second while it drains at most
    2 x 6.7 a second: after 0.4 s more, a newcomer would wait over the clients' 2 s
    timeout. So every status lookup arriving from 21 s (a margin of twice that) to the
    end of the slowdown times out."""
    during = outcomes_between(unprotected, "status", SLOW_AT + 1, SLOW_AT + SLOW_FOR)
    assert sum(during.values()) > 400  # 40 a second for 14 s
    assert during == {"timeout": sum(during.values())}
    # Before the slowdown, at 5-30 % utilisation, none comes near the 2 s timeout.
    before = outcomes_between(unprotected, "status", 0, SLOW_AT)
    assert before == {"ok": sum(before.values())}


def test_with_policies_status_requests_do_not_fail(protected, unprotected):
    """A 0.1 s timeout and a bulkhead of 4 mean a checkout holds an orders worker for
    0.1 s at most and at most 4 of the 8 at once; the breaker fails the rest at once and
    the fallback answers them. Status lookups (5 ms of work) always find a free worker."""
    for load in ("status", "checkout"):
        every = outcomes_between(protected, load, 0, 1000)
        assert every == {"ok": sum(every.values())}, load
    # The same customers arrived as without policies (same seed, same streams).
    assert protected.requests.start.equals(unprotected.requests.start)
    # The breaker did open during the slowdown, and closed again after it.
    breakers = protected.breakers
    opened = breakers[breakers.state == "open"].time
    assert ((opened > SLOW_AT) & (opened < SLOW_AT + SLOW_FOR)).all() and len(opened) > 0
    assert breakers.state.iloc[-1] == "closed"
    assert breakers.time.iloc[-1] > SLOW_AT + SLOW_FOR
    assert protected.logs.message.str.startswith("fallback for payments.charge").sum() > 100
