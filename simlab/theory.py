"""Queueing theory to check the simulator against (and to teach with).

An M/M/c queue: Poisson arrivals at rate ``lam`` per second, ``c`` workers, exponential
work with mean ``1/mu`` seconds. It is stable when the utilisation
``rho = lam / (c * mu)`` is below 1.

Example:
    >>> round(mmc_wait(lam=80, mu=50, c=2), 5)   # mean time in queue, seconds
    0.03556
"""


from . import checks
from .errors import ModelError


def _check(lam, mu, c):
    checks.positive("M/M/c", "lam", lam, "of arrivals per second")
    checks.positive("M/M/c", "mu", mu, "of services per second per worker")
    checks.count("M/M/c", "c", c)
    if lam >= c * mu:
        raise ModelError(f"M/M/{c} with lam={lam}, mu={mu} is unstable (rho = "
                         f"{lam / (c * mu):.2f} >= 1): its queue grows without bound")


def erlang_c(c, offered):
    """Probability that an arrival has to wait, for ``c`` workers and ``offered`` = lam/mu."""
    checks.count("erlang_c", "c", c)
    checks.positive("erlang_c", "offered", offered, "(lam / mu)")
    if offered >= c:
        raise ModelError(f"erlang_c: offered ({offered:g}) must be below c ({c}): at or above, "
                         "the queue grows without bound")
    rho = offered / c
    term = 1.0  # offered**k / k!, built up step by step to stay stable for large c
    below = 1.0
    for k in range(1, c):
        term *= offered / k
        below += term
    top = term * offered / c / (1 - rho)
    return top / (below + top)


def mmc_wait(lam, mu, c):
    """Mean time an M/M/c arrival waits for a worker (Wq), in seconds."""
    _check(lam, mu, c)
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_sojourn(lam, mu, c):
    """Mean time an M/M/c arrival spends in the station (W = Wq + 1/mu), in seconds."""
    return mmc_wait(lam, mu, c) + 1.0 / mu


def tandem_sojourn(lam, stations):
    """Mean time through M/M/c stations visited one after another (a Jackson tandem).

    ``stations`` is a list of ``(mu, c)``. By Burke's theorem each station again sees
    Poisson arrivals at rate ``lam``, so the mean sojourns simply add up.
    """
    return sum(mmc_sojourn(lam, mu, c) for mu, c in stations)
