"""Exceptions: model mistakes (raised early, stop the run) and call failures (part of the model).

Two families, on purpose:

* ``SimlabError`` and its subclasses other than ``CallError`` are *your* mistakes:
  a misspelt name, a negative rate, a handler that is not a generator. They are raised
  while the model is built or the moment the run meets them, and they name the culprit
  and the fix.
* ``CallError`` is a failure *inside* the simulated system: a call timed out, a service
  was down, a queue was full. Handlers may catch it (``except sl.CallError``); if
  nobody does, it travels back to the client and becomes the request's ``outcome``.
"""


#: Steps a handler (or retries a call) may take at one instant before the run is stopped:
#: a loop in which no time passes would otherwise hang the run inside one event.
SPIN_LIMIT = 20_000


class SimlabError(Exception):
    """Base class of every exception simlab raises."""


class ModelError(SimlabError, ValueError):
    """The model is wrong: a bad name, value or shape. The message says how to fix it."""


class ModelTypeError(ModelError, TypeError):
    """A value of the wrong type: a string, a list or None where a number belongs.

    It is a ``ModelError`` (so ``except sl.ModelError`` catches every mistake in a
    model) and a ``TypeError`` (so it also reads as what Python would call it)."""


class CallCycleError(ModelError):
    """A synchronous call went back into a service already on the request's call stack."""


class HandlerError(SimlabError):
    """A handler raised an ordinary Python exception (a bug in the model's code)."""


class RunLimitError(SimlabError):
    """The run hit a limit (events, records kept, or wall-clock seconds) before it ended."""


class SimlabWarning(UserWarning):
    """Something in the model is allowed but probably not what you meant (a fault that
    starts after the run stops, say). The run goes on; the warning says what happened."""


class CallError(SimlabError):
    """A failure inside the simulated system, seen by the caller.

    Attributes:
        kind: the outcome it maps to: ``"error"``, ``"timeout"`` or ``"rejected"``.
        where: the operation that failed, as ``"service.endpoint"``.
        detail: one sentence for humans.
    """

    # args stay (kind, where, detail) so that SimPy can copy the exception.
    def __init__(self, kind, where, detail):
        super().__init__(kind, where, detail)
        self.kind = kind
        self.where = where
        self.detail = detail

    def __str__(self):
        return f"{self.where}: {self.detail}"


class ServiceError(Exception):
    """Raise this in a handler to fail a request on purpose (a business error).

    Example:
        >>> def charge(ctx, order):
        ...     yield ctx.work()
        ...     if order.amount > 1000:
        ...         raise ServiceError("card declined")
    """
