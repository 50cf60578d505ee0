"""simlab: a seeded, faithful simulator of microservices, for learning.

Start with ``sl.World``; everything else hangs off it. All times are simulated seconds.
"""

from . import plot, scenarios, schema, theory
from .distributions import Constant, Empirical, Exp, LogNormal, Uniform
from .experiments import compare, mean_ci, replicate
from .errors import (CallCycleError, CallError, HandlerError, ModelError, RunLimitError,
                     ServiceError, SimlabError)
from .load import Burst, Payload, Poisson, Users
from .resilience import Bulkhead, CircuitBreaker, Exponential, Retry, TokenBucket
from .results import Result
from .saga import Saga
from .world import World

__all__ = [
    "World", "Result", "Saga", "Retry", "Exponential", "CircuitBreaker", "Bulkhead", "TokenBucket", "Constant", "Exp", "LogNormal", "Uniform", "Empirical", "Poisson", "Burst",
    "Users", "Payload", "SimlabError", "ModelError", "CallCycleError", "HandlerError",
    "RunLimitError", "CallError", "ServiceError", "compare", "mean_ci", "replicate", "plot", "scenarios", "schema", "theory",
]
