"""Deployment strategies: how a new version takes over a live service's traffic.

Each strategy is a small frozen settings object with two plain generators that act on
a ``Deployment`` (``simlab.delivery.deploy``) through a handful of moves:

* ``d.shift(weight)`` — from now on the new version gets ``weight`` of the new requests,
  the old one the rest (each request picks by weight, see ``simlab.services``);
* ``d.stop()`` — no version runs: requests are turned away (outcome ``"rejected"``);
* ``d.capacity(share)`` — the service serves with ``share`` of its workers (instances
  being replaced are out);
* ``d.wait(seconds)`` — an event to yield: a hold, a start-up, a downtime;
* ``d.analyse(since, canary)`` — the canary's verdict on its spans since ``since``.

``rollout(d)`` returns True once the new version is promoted, False if its analysis
failed (the deployer then calls ``roll_back(d)``). An incident opened by an alert
during a rollout interrupts it, and the deployer calls ``roll_back(d)`` as well.

| strategy | capacity while it rolls | who meets the new version | rollback |
|---|---|---|---|
| ``Recreate`` | none for ``downtime`` s | all, at once | another recreate |
| ``Rolling`` | less if ``max_unavailable`` > 0 | a growing share | rolling back |
| ``BlueGreen`` | full (twice the machines) | all, at once | instant, while blue runs |
| ``Canary`` | full | a few first, then more | instant |

``Recreate(downtime=0)`` is the big-bang switch: no downtime, every user at once.
"""

import math
from dataclasses import dataclass

from .. import checks
from ..errors import ModelError


class Strategy:
    """What every strategy has: a ``kind`` (its name in ``result.deployments``), a
    ``rollout`` and a ``roll_back``."""

    kind = "strategy"

    def rollout(self, d):
        raise NotImplementedError

    def roll_back(self, d):
        """Generator: every request back to the old version at once (it still runs)."""
        d.shift(0.0)
        yield d.wait(0.0)

    def check_service(self, service):
        """Refuse a service this strategy cannot deploy (see Rolling)."""


@dataclass(frozen=True)
class Recreate(Strategy):
    """Stop the old version, start the new one: ``downtime`` seconds with no version
    running, in which every request is rejected. ``downtime=0`` is the big-bang switch."""

    downtime: float = 5.0
    kind = "recreate"

    def __post_init__(self):
        checks.seconds("Recreate", "downtime", self.downtime)

    def rollout(self, d):
        yield from self._switch(d, 1.0)
        return True

    def roll_back(self, d):
        yield from self._switch(d, 0.0)

    def _switch(self, d, weight):
        if self.downtime:
            d.stop()
        yield d.wait(self.downtime)
        d.shift(weight)


@dataclass(frozen=True)
class Rolling(Strategy):
    """Replace the service's ``instances`` a few at a time.

    Its workers are spread evenly over ``instances``. Each step starts up to
    ``max_surge`` + ``max_unavailable`` new instances: ``max_unavailable`` old ones stop
    at once (the service has fewer workers until the step ends), the others only when
    the new ones are ready, ``ready_after`` seconds later; then the new instances take
    their share of the traffic. So the new version's weight climbs in steps of
    (instances per step) / ``instances``.
    """

    instances: int = 4
    max_surge: int = 1
    max_unavailable: int = 0
    ready_after: float = 5.0
    kind = "rolling"

    def __post_init__(self):
        checks.count("Rolling", "instances", self.instances)
        checks.count("Rolling", "max_surge", self.max_surge, least=0)
        checks.count("Rolling", "max_unavailable", self.max_unavailable, least=0)
        checks.seconds("Rolling", "ready_after", self.ready_after)
        if self.max_surge + self.max_unavailable == 0:
            raise ModelError("Rolling: max_surge and max_unavailable are both 0, so no instance"
                             " could ever be replaced; allow max_surge=1 (or max_unavailable=1)")
        if self.max_unavailable > self.instances:
            raise ModelError(f"Rolling: max_unavailable={self.max_unavailable} is more than the "
                             f"{self.instances} instances; use at most instances")

    def check_service(self, service):
        if service.workers is not None and service.workers % self.instances:
            raise ModelError(
                f"Rolling(instances={self.instances}) on service {service.name!r}: its "
                f"{service.workers} workers cannot be spread evenly over {self.instances} "
                "instances; give it a multiple of instances workers, or fewer instances")

    def rollout(self, d):
        yield from self._roll(d, 0, self.instances)
        return True

    def roll_back(self, d):
        yield from self._roll(d, round(d.weight * self.instances), 0)
        d.capacity(1.0)  # (stopped in its first step, it had not moved: all back now)
        d.shift(0.0)

    def _roll(self, d, new, goal):
        """Move from ``new`` instances of the new version to ``goal``, step by step."""
        total = self.instances
        while new != goal:
            step = min(self.max_surge + self.max_unavailable, abs(goal - new))
            down = min(self.max_unavailable, step)  # leaving instances stopped at once
            serving = total - down
            serving_new = new if goal > new else new - down
            d.capacity(serving / total)
            d.shift(serving_new / serving)
            yield d.wait(self.ready_after)
            new += step if goal > new else -step
            d.capacity(1.0)
            d.shift(new / total)


@dataclass(frozen=True)
class BlueGreen(Strategy):
    """Start the new version beside the old (green beside blue), switch all traffic to it
    once it is ready (``ready_after`` seconds), keep the old one running for
    ``scale_down_after`` seconds: until then a rollback is an instant switch back."""

    ready_after: float = 5.0
    scale_down_after: float = 60.0
    kind = "blue_green"

    def __post_init__(self):
        checks.seconds("BlueGreen", "ready_after", self.ready_after)
        checks.seconds("BlueGreen", "scale_down_after", self.scale_down_after)

    def rollout(self, d):
        yield d.wait(self.ready_after)
        d.shift(1.0)
        yield d.wait(self.scale_down_after)
        d.old_running = False
        return True

    def roll_back(self, d):
        if not d.old_running:  # blue is gone: start it again first
            yield d.wait(self.ready_after)
        d.shift(0.0)


@dataclass(frozen=True)
class Canary(Strategy):
    """Give the new version a small share of the traffic, and more at each step while its
    analysis passes.

    The weights are ``steps`` (increasing, in (0, 1]), or ``step``, 2 × ``step`` ... up to
    ``max_weight``. Each weight is held ``interval`` seconds; at the end of each hold the
    canary's spans of that hold are checked (``result.canary_checks``): it **fails** if
    their error rate is above ``max_error_rate`` or their p99 above ``max_p99`` (if
    given); with fewer than ``min_requests`` requests the check is **inconclusive** and
    counts as ``inconclusive`` says ("pass" or "fail"). A pass moves to the next weight
    (after the last one: promotion, weight 1); a fail holds the weight one more
    interval; the ``failure_limit``-th fail rolls back at once.

    So a canary promotes no sooner than ``interval`` × (number of weights), and one
    that fails every check rolls back after ``interval`` × ``failure_limit``.

    Few requests per check make the analysis a coin toss: counted as passes,
    inconclusive checks promote a bad version nobody measured (a false promotion);
    counted as fails, they roll back a good one (a false rollback). So can a handful of
    unlucky errors among few requests.
    """

    steps: tuple = None
    step: float = None
    max_weight: float = 1.0
    interval: float = 30.0
    failure_limit: int = 2
    min_requests: int = 20
    max_error_rate: float = 0.05
    max_p99: float = None
    inconclusive: str = "pass"
    kind = "canary"

    def __post_init__(self):
        checks.seconds("Canary", "interval", self.interval, positive=True)
        checks.count("Canary", "failure_limit", self.failure_limit)
        checks.count("Canary", "min_requests", self.min_requests, least=0)
        checks.probability("Canary", "max_error_rate", self.max_error_rate)
        checks.seconds("Canary", "max_p99", self.max_p99, positive=True, none="no latency check")
        checks.one_of("Canary", "inconclusive", self.inconclusive, ("pass", "fail"))
        object.__setattr__(self, "steps", self._weights())

    def _weights(self):
        if self.steps is not None and self.step is not None:
            raise ModelError("Canary: give steps=(0.05, 0.25, 0.5, 1.0) or step=0.1 (with "
                             "max_weight), not both")
        if self.steps is None:
            step = checks.probability("Canary", "step", 0.1 if self.step is None else self.step,
                                      zero=False)
            top = checks.probability("Canary", "max_weight", self.max_weight, zero=False)
            if step > top:
                raise ModelError(f"Canary: step={step} is above max_weight={top}; use a smaller "
                                 "step or a larger max_weight")
            count = math.floor(top / step + 1e-9)
            return tuple(min(round(step * n, 12), top) for n in range(1, count + 1))
        if isinstance(self.steps, (str, bytes)) or not hasattr(self.steps, "__iter__") \
                or not list(self.steps):
            checks.refuse("Canary", "steps", "a tuple of increasing weights such as "
                          "(0.05, 0.25, 0.5, 1.0)", self.steps)
        weights = tuple(checks.probability("Canary", "each of the steps", w, zero=False)
                        for w in self.steps)
        for before, after in zip(weights, weights[1:]):
            if after <= before:
                raise ModelError(f"Canary: steps must increase, but {after} follows {before} in "
                                 f"{weights}; list the weights in increasing order")
        return weights

    @property
    def promotes_after(self):
        """The least time from start to promotion: every check passes."""
        return self.interval * len(self.steps)

    def rollout(self, d):
        failures, index = 0, 0
        while index < len(self.steps):
            d.shift(self.steps[index])
            since = d.now
            yield d.wait(self.interval)
            verdict = d.analyse(since, self)
            if verdict == "inconclusive":
                verdict = self.inconclusive
            if verdict == "pass":
                index += 1
            else:
                failures += 1
                if failures >= self.failure_limit:
                    return False
        if d.weight != 1.0:
            d.shift(1.0)  # promoted
        return True
