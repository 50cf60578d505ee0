"""Alerts on live telemetry: how a bad version in production gets noticed.

A service promises an SLO: say 99 % of its requests succeed (``slo=0.99``), which leaves
an **error budget** of 1 %. The **burn rate** is how fast the budget goes: the share of
requests failing, divided by the budget. A burn rate of 1 spends exactly the budget;
a version that fails 20 % of requests burns it at 20.

``BurnRateAlert(slo=0.99, window=60, burn_rate=10)`` fires when, over the last
``window`` seconds, the service's burn rate reaches ``burn_rate``. It is evaluated every
``every`` seconds from the server spans recorded so far (a request still in progress
does not count yet), leaving out a version already rolled back (its failures are not
the next one's: ``Deployer.not_to_blame``). So it notices a bad version after a delay
that depends on the window, the threshold and the traffic: the lesson measures it.

**Low traffic.** ``min_requests`` only refuses to judge a window with fewer requests
than that. Above it, the alert fires on ``burn_rate × (1 − slo)`` of the requests
failing: 10 % for the defaults, so 2 failures among 20 requests are enough, and a service
that fails 0.2 % of its requests when all is well now and then has 2 in a window of 20.
Such a false alarm opens an incident with nothing to undo (on the version that was
already there). To make a quiet service's alert need several failures, raise
``min_requests`` so that ``min_requests × burn_rate × (1 − slo)`` is a few.

When it fires, the deployer opens an incident and remediates it (``Deployer.alert``):
a rollback by default. The alert fires again only after it has cleared (an edge, not a
level: one incident per episode).
"""

from dataclasses import dataclass

from .. import checks
from ..components import Periodic
from .deploy import served


@dataclass(frozen=True)
class BurnRateAlert:
    """Fire when the error budget of ``slo`` burns ``burn_rate`` times too fast over the
    last ``window`` seconds, with at least ``min_requests`` requests in the window;
    checked every ``every`` seconds (default: a tenth of the window)."""

    slo: float = 0.99
    window: float = 60.0
    burn_rate: float = 10.0
    every: float = None
    min_requests: int = 10

    def __post_init__(self):
        checks.probability("BurnRateAlert", "slo", self.slo, zero=False)
        if self.slo == 1:
            checks.refuse("BurnRateAlert", "slo", "below 1 (an SLO of 1 leaves no error "
                          "budget to burn)", self.slo, "; use 0.99 or 0.999")
        checks.seconds("BurnRateAlert", "window", self.window, positive=True)
        checks.positive("BurnRateAlert", "burn_rate", self.burn_rate)
        checks.seconds("BurnRateAlert", "every", self.every, positive=True,
                       none="a tenth of the window")
        checks.count("BurnRateAlert", "min_requests", self.min_requests, least=0)

    @property
    def period(self):
        return self.every if self.every is not None else self.window / 10

    def burn(self, requests, failed):
        """The burn rate of ``failed`` failures among ``requests``."""
        return (failed / requests) / (1 - self.slo) if requests else 0.0


class AlertWatch(Periodic):
    """A ``BurnRateAlert`` on one service during a run: a periodic component."""

    def __init__(self, handles, service, alert, time_unit="s"):
        super().__init__(alert.period)
        self.time_unit = time_unit  # for its log line: the window in the world's unit
        self.recorder, self.deployer = handles.recorder, handles.deployer
        self.service, self.alert = service, alert
        self.firing = False

    def tick(self, now):
        alert = self.alert
        requests, failed, _ = served(self.recorder, self.service,
                                     max(0.0, now - alert.window),
                                     excluded=self.deployer.not_to_blame(self.service))
        firing = requests >= max(alert.min_requests, 1) and \
            alert.burn(requests, failed) >= alert.burn_rate
        if firing and not self.firing:
            self.recorder.log(None, None, self.service, "error",
                              f"alert: burn rate {alert.burn(requests, failed):.1f} over "
                              f"{alert.window:g} {self.time_unit} ({failed} of {requests} failed)")
            self.deployer.alert(self.service)
        elif self.firing and not firing:
            self.deployer.cleared(self.service)
        self.firing = firing
