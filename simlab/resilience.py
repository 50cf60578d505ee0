"""Resilience policies for synchronous calls: small frozen values passed to ``ctx.call``.

    yield ctx.call("payments", "charge", order, timeout=0.5,
                   retry=sl.Retry(attempts=3, backoff=sl.Exponential(0.05), jitter="full"),
                   breaker=sl.CircuitBreaker(failure_rate=0.5, window=20, open_for=5),
                   bulkhead=sl.Bulkhead(max_concurrent=4),
                   fallback="queued for later")

They wrap each other in this order (outermost first): fallback, retry, circuit breaker,
bulkhead, timeout. So every attempt passes the breaker and the bulkhead, and has its own
timeout; every attempt is its own client span in the trace, so the amplification shows.
"""

import math
from collections import deque
from dataclasses import dataclass

from simpy.events import Timeout

from . import checks
from .distributions import as_distribution
from .errors import ModelError

JITTERS = ("none", "full", "equal", "decorrelated")


@dataclass(frozen=True)
class Exponential:
    """Exponential backoff: wait ``base``, then ``base*factor``, ... never more than ``cap``."""

    base: float
    factor: float = 2.0
    cap: float = 10.0

    def __post_init__(self):
        checks.seconds("Exponential", "base", self.base, positive=True)
        checks.positive("Exponential", "factor", self.factor, least=1)
        checks.seconds("Exponential", "cap", self.cap, positive=True)

    def delay(self, retry):
        """The delay before retry number ``retry`` (1 for the first retry)."""
        return min(self.cap, self.base * self.factor ** (retry - 1))


@dataclass(frozen=True)
class Retry:
    """Try a failed call again.

    Args:
        attempts: attempts in all, the first included (1 means no retry).
        backoff: seconds to wait before a retry: a number, a distribution, or
            ``Exponential(base)``.
        jitter: "none"; "full" (uniform between 0 and the backoff); "equal" (half the
            backoff plus uniform up to the other half); "decorrelated" (uniform between
            the base and three times the previous delay, capped).
        budget: at most this many retries per call made, e.g. 0.2 (each call earns 0.2
            of a retry; each retry spends 1): it stops a retry storm. Quiet times save
            up to 100 retries, which a fault then spends at once. ``None``: no budget.
        on: the failure kinds worth retrying.
    """

    attempts: int = 3
    backoff: object = 0.0
    jitter: str = "none"
    budget: float = None
    on: tuple = ("error", "timeout")

    def __post_init__(self):
        checks.count("Retry", "attempts", self.attempts)
        if not isinstance(self.backoff, Exponential):
            object.__setattr__(self, "backoff", as_distribution(self.backoff, "Retry", "backoff"))
        if self.jitter not in JITTERS:
            raise ModelError(f"Retry: unknown jitter {self.jitter!r}; choose one of {JITTERS}")
        if self.budget is not None and (not checks.is_number(self.budget)
                                        or not 0 <= self.budget < math.inf):
            checks.refuse("Retry", "budget", "a number of retries per call, 0 or more (or "
                          "None for no budget)", self.budget)
        if isinstance(self.on, str) or not hasattr(self.on, "__iter__"):
            raise ModelError(f"Retry: on must be a tuple of failure kinds, such as "
                             f"({self.on!r},); got the string {self.on!r}")
        object.__setattr__(self, "on", tuple(self.on))
        for kind in self.on:
            if kind not in ("error", "timeout", "rejected"):
                raise ModelError(f"Retry: unknown failure kind {kind!r} in on; choose from "
                                 "'error', 'timeout', 'rejected'")

    def delay(self, retry, previous, rng):
        """Seconds to wait before retry number ``retry``; ``previous`` is the last delay."""
        if isinstance(self.backoff, Exponential):
            base, cap, delay = self.backoff.base, self.backoff.cap, self.backoff.delay(retry)
        else:
            delay = self.backoff.sample(rng)
            base, cap = delay, math.inf
        if self.jitter == "full":
            return rng.uniform(0, delay)
        if self.jitter == "equal":
            return delay / 2 + rng.uniform(0, delay / 2)
        if self.jitter == "decorrelated":
            return min(cap, rng.uniform(base, max(base, 3 * (previous or base))))
        return delay


@dataclass(frozen=True)
class CircuitBreaker:
    """Stop calling a dependency that keeps failing; try again after a while.

    Closed (calls pass) → open when at least ``failure_rate`` of the last ``window``
    calls failed (once there are ``minimum_calls``) → after ``open_for`` seconds
    half-open: ``probes`` trial calls pass → closed if all succeed, open again if one fails.
    While open, calls fail at once with kind "rejected".
    """

    failure_rate: float = 0.5
    window: int = 20
    minimum_calls: int = 10
    open_for: float = 5.0
    probes: int = 1

    def __post_init__(self):
        checks.probability("CircuitBreaker", "failure_rate", self.failure_rate, zero=False)
        checks.count("CircuitBreaker", "window", self.window)
        checks.count("CircuitBreaker", "minimum_calls", self.minimum_calls)
        checks.seconds("CircuitBreaker", "open_for", self.open_for, positive=True)
        checks.count("CircuitBreaker", "probes", self.probes)
        if self.minimum_calls > self.window:
            raise ModelError(f"CircuitBreaker: minimum_calls ({self.minimum_calls}) cannot exceed "
                             f"window ({self.window})")


@dataclass(frozen=True)
class Bulkhead:
    """At most ``max_concurrent`` calls from one caller to one dependency at once; up to
    ``max_waiting`` more wait for a place, the rest fail at once ("rejected"). It keeps a
    slow dependency from tying up all of the caller's workers."""

    max_concurrent: int
    max_waiting: int = 0

    def __post_init__(self):
        checks.count("Bulkhead", "max_concurrent", self.max_concurrent)
        checks.count("Bulkhead", "max_waiting", self.max_waiting, least=0)


@dataclass(frozen=True)
class TokenBucket:
    """A rate limiter for a service: ``rate`` requests per second on average, bursts of up
    to ``burst``; requests beyond are rejected at once."""

    rate: float
    burst: int = 1

    def __post_init__(self):
        checks.positive("TokenBucket", "rate", self.rate, "of requests per second")
        checks.count("TokenBucket", "burst", self.burst)


class BreakerState:
    """The live state of one circuit breaker (one caller, one dependency, one policy)."""

    def __init__(self, run, policy, caller, target):
        self.run = run
        self.policy = policy
        self.caller = caller
        self.target = target
        self.state = "closed"
        self.outcomes = deque(maxlen=policy.window)  # True for a failure
        self.probing = 0
        self.probe_successes = 0
        self.generation = 0  # +1 at every change of state
        self.run.recorder.breakers.add(time=run.env.now, caller=caller, target=target,
                                       state="closed")

    def _enter(self, state):
        self.state = state
        self.generation += 1
        self.run.recorder.breakers.add(time=self.run.env.now, caller=self.caller,
                                       target=self.target, state=state)

    def admit(self):
        """Let a call through now? Its state generation if so (a half-open breaker lets
        ``probes`` calls through), None if not."""
        if self.state == "closed":
            return self.generation
        if self.state == "half_open" and self.probing < self.policy.probes:
            self.probing += 1
            return self.generation
        return None

    def withdraw(self, admitted):
        """A call let through never went out (a bulkhead turned it away): give back its
        probe, so a half-open breaker is not left waiting for an answer that never comes."""
        if self.state == "half_open" and admitted == self.generation:
            self.probing -= 1

    def record(self, failed, admitted):
        """The outcome of a call let through in state generation ``admitted``. An answer
        to a call let through before the last change of state says nothing about now."""
        if admitted != self.generation:
            return
        if self.state == "half_open":
            if failed:
                self._open()
            else:
                self.probe_successes += 1
                if self.probe_successes >= self.policy.probes:
                    self.outcomes.clear()
                    self._enter("closed")
            return
        self.outcomes.append(failed)
        if len(self.outcomes) >= self.policy.minimum_calls and \
                sum(self.outcomes) >= self.policy.failure_rate * len(self.outcomes):
            self._open()

    def _open(self):
        self._enter("open")
        self.probing = self.probe_successes = 0
        timer = Timeout(self.run.env, self.policy.open_for)
        timer.callbacks.append(lambda _: self._enter("half_open"))


class RetryBudget:
    """Retries earned by calls: each call deposits ``ratio``, each retry withdraws 1."""

    def __init__(self, ratio):
        self.ratio = ratio
        self.balance = 0.0

    def deposit(self):
        self.balance = min(self.balance + self.ratio, 100.0)

    def withdraw(self):
        if self.balance >= 1:
            self.balance -= 1
            return True
        return False


class BulkheadState:
    """The live places of one bulkhead: a slot counter with a FIFO of waiting events."""

    def __init__(self, policy):
        self.policy = policy
        self.busy = 0
        self.waiting = deque()
