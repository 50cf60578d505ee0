"""Load: who sends requests, how often, and for how long.

* ``Poisson(rate=80)``: an open loop. Requests arrive at random, 80 a second on
  average, whether or not earlier ones were answered (the internet at large).
* ``Burst(size=500, over=2.0)``: 500 requests at random instants within 2 s, on top
  of a steady load (a flash sale).
* ``Users(n=20, think=Exp(mean=1.0))``: a closed loop. Each of 20 users sends a
  request, waits for the answer, thinks, and sends the next (a fixed population).
"""

from dataclasses import dataclass
from typing import NamedTuple

from simpy.events import Process, Timeout

from . import checks
from .components import Component
from .distributions import Distribution, Exp, as_distribution
from .errors import SPIN_LIMIT, CallError, RunLimitError


class Payload(NamedTuple):
    """The default request payload: just an id (``order.id`` in a handler)."""

    id: int


@dataclass(frozen=True)
class Poisson:
    """Open-loop Poisson arrivals at ``rate`` requests per second."""

    rate: float

    def __post_init__(self):
        # A Poisson process serves two clocks: a load's requests per second, and a
        # pipeline's commits (simlab.delivery), changes per minute.
        checks.positive("Poisson", "rate", self.rate, "of arrivals per unit of time "
                        "(requests per second for a load; changes per minute for a "
                        "pipeline's commits)")

    @property
    def mean(self):
        """Mean time between arrivals, in seconds."""
        return 1.0 / self.rate


@dataclass(frozen=True)
class Users:
    """Closed-loop users: each sends, waits for the answer, thinks, and sends again."""

    n: int
    think: Distribution = Exp(mean=1.0)

    def __post_init__(self):
        checks.count("Users", "n", self.n)
        object.__setattr__(self, "think", as_distribution(self.think, "Users", "think"))


@dataclass(frozen=True)
class Burst:
    """A burst: ``size`` requests at random instants within ``over`` seconds.

    Put it on top of a steady load to watch a backlog build and drain:
    ``world.load(sl.Burst(size=500, over=2.0), target=..., start=20)``.
    """

    size: int
    over: float = 1.0

    def __post_init__(self):
        checks.count("Burst", "size", self.size)
        checks.seconds("Burst", "over", self.over, positive=True)


class Load:
    """Arrivals into one entry endpoint. Create it with ``world.load(...)``."""

    def __init__(self, name, arrivals, service, endpoint, start, duration, payload, timeout):
        self.name = name
        self.arrivals = arrivals
        self.service = service
        self.endpoint = endpoint
        self.start = start
        self.duration = duration
        self.payload = payload or Payload
        self.timeout = timeout

    @property
    def end(self):
        return self.start + self.duration

    def generate(self, handles, sending):
        """Generator (a process): send requests for ``duration`` seconds, each through
        ``handles.send_request``."""
        station = handles.services[self.service]
        endpoint = station.endpoints[self.endpoint]
        rng = handles.streams.stream(f"load:{self.name}")
        env, request = handles.env, handles.send_request
        if self.start:
            yield Timeout(env, self.start)

        def send():
            return request(sending, station, endpoint, self.payload, self.timeout)

        if isinstance(self.arrivals, Burst):
            instants = sorted(rng.uniform(0, self.arrivals.over) for _ in range(self.arrivals.size))
            for previous, instant in zip([0.0] + instants, instants):
                yield Timeout(env, instant - previous)
                send()
        elif isinstance(self.arrivals, Poisson):
            rate = self.arrivals.rate
            end = self.end
            while True:
                gap = rng.expovariate(rate)
                if env.now + gap >= end:
                    # Its next request would come after the end: the load ends at its end,
                    # not at that instant (with a low rate, long after it).
                    yield Timeout(env, end - env.now)
                    break
                yield Timeout(env, gap)
                send()
        else:
            users = [Process(env, self._user(env, rng, send)) for _ in range(self.arrivals.n)]
            for user in users:
                yield user
        sending.finished = True

    def _user(self, env, rng, send):
        think = self.arrivals.think
        yield Timeout(env, think.sample(rng))  # users do not all start at the same instant
        instant, sent = env.now, 0
        while env.now < self.end:
            # No think time and answers that take no time: the user would send requests
            # for ever without time passing. Stop the run instead.
            sent = sent + 1 if env.now == instant else 1
            instant = env.now
            if sent > SPIN_LIMIT:
                raise RunLimitError(
                    f"a user of load {self.name!r} sent {SPIN_LIMIT:,} requests at t={instant:.3f}"
                    " s without time passing: give the users a think time, or the endpoint work")
            request = send()
            if request is not None:  # not answered at once: wait for the answer
                try:
                    yield request
                except CallError:
                    pass  # a failed request: its outcome is recorded; the user thinks, tries again
            yield Timeout(env, think.sample(rng))


class Sending(Component):
    """A load during one run: it is idle once it has sent everything and every request
    it sent has its answer."""

    def __init__(self, load):
        self.load = load
        self.finished = False
        self.in_flight = 0  # requests sent, not answered yet

    def start(self, handles):
        handles.start_process(self.load.generate(handles, self))

    def idle(self):
        return self.finished and not self.in_flight
