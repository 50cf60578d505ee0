"""simlab: a seeded, faithful simulator of microservices, for learning.

Start with ``sl.World``; everything else hangs off it. All times are simulated seconds.
"""

from . import delivery, export, metrics, plot, scenarios, schema, theory, traces
from .delivery import BlueGreen, BurnRateAlert, Canary, Defect, Recreate, Rolling, Schedule
from .distributions import Constant, Empirical, Exp, LogNormal, Uniform
from .errors import (
                     CallCycleError,
                     CallError,
                     HandlerError,
                     ModelError,
                     ModelTypeError,
                     RunLimitError,
                     ServiceError,
                     SimlabError,
                     SimlabWarning,
)
from .experiments import compare, mean_ci, replicate
from .load import Burst, Payload, Poisson, Users
from .resilience import Bulkhead, CircuitBreaker, Exponential, Retry, TokenBucket
from .results import Result
from .saga import Saga
from .sweeps import Swept, sweep
from .world import World

__all__ = [
    # building and running
    "World", "Result", "Payload",
    # distributions and load
    "Constant", "Exp", "LogNormal", "Uniform", "Empirical", "Poisson", "Burst", "Users",
    # delivery: pipelines, deployments, alerts
    "Schedule", "delivery", "Recreate", "Rolling", "BlueGreen", "Canary", "Defect",
    "BurnRateAlert",
    # resilience
    "Retry", "Exponential", "CircuitBreaker", "Bulkhead", "TokenBucket", "Saga",
    # errors
    "SimlabError", "ModelError", "ModelTypeError", "CallCycleError", "HandlerError",
    "RunLimitError", "CallError", "ServiceError", "SimlabWarning",
    # experiments and the parts a lesson uses
    "compare", "mean_ci", "replicate", "sweep", "Swept", "metrics", "plot", "scenarios", "schema",
    "theory", "export", "traces",
]
