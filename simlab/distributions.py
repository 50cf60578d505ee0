"""Distributions of durations, in simulated seconds.

Each is a small frozen value: validated when made, with a readable ``repr`` and a
``.mean``. ``sample(rng)`` draws one value from a ``random.Random`` stream that the
world hands out, so a distribution never owns randomness of its own.

Example:
    >>> LogNormal(median=0.010, p99=0.050).mean   # doctest: +ELLIPSIS
    0.01...
"""

import math
from dataclasses import dataclass, field
from statistics import NormalDist

from . import checks
from .errors import ModelError

_Z99 = NormalDist().inv_cdf(0.99)


class Distribution:
    """Base class: anything with ``sample(rng)`` and ``mean``."""

    def sample(self, rng):
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Distribution):
    """Always the same value (a deterministic service time, a fixed network hop)."""

    value: float

    def __post_init__(self):
        checks.seconds("Constant", "value", self.value)

    @property
    def mean(self):
        return self.value

    def sample(self, rng):
        return self.value


@dataclass(frozen=True)
class Exp(Distribution):
    """Exponential with the given mean: memoryless, the 'M' in M/M/c."""

    mean: float
    _rate: float = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        checks.seconds("Exp", "mean", self.mean, positive=True)
        object.__setattr__(self, "_rate", 1.0 / self.mean)

    def sample(self, rng):
        return rng.expovariate(self._rate)


@dataclass(frozen=True)
class LogNormal(Distribution):
    """Log-normal given by its median and 99th percentile: the long tail of real services.

    Example: ``LogNormal(median=0.010, p99=0.050)`` is usually about 10 ms and
    one time in a hundred slower than 50 ms.
    """

    median: float
    p99: float
    _mu: float = field(init=False, repr=False, compare=False)
    _sigma: float = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        checks.seconds("LogNormal", "median", self.median, positive=True)
        checks.seconds("LogNormal", "p99", self.p99, positive=True)
        if self.p99 <= self.median:
            raise ModelError(
                f"LogNormal: p99 ({self.p99}) must be greater than median ({self.median}); "
                "for a fixed time use Constant(...)"
            )
        object.__setattr__(self, "_mu", math.log(self.median))
        object.__setattr__(self, "_sigma", (math.log(self.p99) - self._mu) / _Z99)

    @property
    def mean(self):
        return math.exp(self._mu + self._sigma**2 / 2)

    def sample(self, rng):
        return rng.lognormvariate(self._mu, self._sigma)


@dataclass(frozen=True)
class Uniform(Distribution):
    """Any value between ``low`` and ``high``, all equally likely."""

    low: float
    high: float

    def __post_init__(self):
        checks.seconds("Uniform", "low", self.low)
        checks.seconds("Uniform", "high", self.high)
        if self.high < self.low:
            raise ModelError(f"Uniform: high ({self.high}) must not be below low ({self.low})")

    @property
    def mean(self):
        return (self.low + self.high) / 2

    def sample(self, rng):
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class Empirical(Distribution):
    """Resamples measured values (say, latencies from a production log)."""

    values: tuple

    def __post_init__(self):
        if isinstance(self.values, (str, bytes)) or not hasattr(self.values, "__iter__"):
            checks.refuse("Empirical", "values", "a list of measured durations in seconds",
                          self.values)
        values = tuple(self.values)
        if not values:
            raise ModelError("Empirical: values must not be empty; pass the measured durations")
        for value in values:
            checks.seconds("Empirical", "each of its values", value)
        object.__setattr__(self, "values", values)

    def __repr__(self):
        return f"Empirical(n={len(self.values)}, mean={self.mean:.4g})"

    @property
    def mean(self):
        return sum(self.values) / len(self.values)

    def sample(self, rng):
        return self.values[rng.randrange(len(self.values))]


def as_distribution(value, owner, what):
    """Accept a Distribution, or a plain number meaning ``Constant(number)``.

    ``owner`` and ``what`` name the parameter in a message: the learner wrote
    ``work=-1``, not ``Constant(-1)``.
    """
    if isinstance(value, Distribution):
        return value
    if not checks.is_number(value):
        checks.refuse(owner, what, "a distribution such as sl.Exp(mean=0.01) or a number "
                      "of seconds", value)
    return Constant(checks.seconds(owner, what, value))
