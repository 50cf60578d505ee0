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

from .errors import ModelError

_Z99 = NormalDist().inv_cdf(0.99)


def _check_number(owner, name, value, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ModelError(f"{owner}: {name} must be a number of seconds, got {value!r}")
    if math.isinf(value):
        raise ModelError(f"{owner}: {name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise ModelError(f"{owner}: {name} must be greater than 0, got {value!r}")
    if value < 0:
        raise ModelError(f"{owner}: {name} must not be negative, got {value!r}")


class Distribution:
    """Base class: anything with ``sample(rng)`` and ``mean``."""

    def sample(self, rng):
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Distribution):
    """Always the same value (a deterministic service time, a fixed network hop)."""

    value: float

    def __post_init__(self):
        _check_number("Constant", "value", self.value)

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
        _check_number("Exp", "mean", self.mean, positive=True)
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
        _check_number("LogNormal", "median", self.median, positive=True)
        _check_number("LogNormal", "p99", self.p99, positive=True)
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
        _check_number("Uniform", "low", self.low)
        _check_number("Uniform", "high", self.high)
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
        values = tuple(self.values)
        if not values:
            raise ModelError("Empirical: values must not be empty; pass the measured durations")
        for value in values:
            _check_number("Empirical", "each value", value)
        object.__setattr__(self, "values", values)

    def __repr__(self):
        return f"Empirical(n={len(self.values)}, mean={self.mean:.4g})"

    @property
    def mean(self):
        return sum(self.values) / len(self.values)

    def sample(self, rng):
        return self.values[rng.randrange(len(self.values))]


def as_distribution(value, owner):
    """Accept a Distribution, or a plain number meaning ``Constant(number)``."""
    if isinstance(value, Distribution):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(owner, "the time", value)
        return Constant(value)
    raise ModelError(
        f"{owner} must be a distribution such as sl.Exp(mean=0.01) or a number of seconds, "
        f"got {value!r}"
    )
