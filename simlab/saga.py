"""Orchestrated sagas: a business transaction across services, undone step by step on failure.

    CHECKOUT = sl.Saga([("payments", "charge", "refund"),
                        ("inventory", "reserve", "release"),
                        ("shipping", "schedule", "cancel")], timeout=1.0)

    @orders.endpoint("place")
    def place(ctx, order):
        outcome = yield ctx.saga(CHECKOUT, order)   # "completed" or "compensated" (or "stuck")

The orchestrator calls each step in turn. If one fails, it calls the *compensations* of
the steps already done — and of a step that timed out, which may have happened — in
reverse order (refund the charge, release the stock), each
retried with ``compensation_retry``; if a compensation still fails, the saga is "stuck"
(a human must step in). Between the first step done and the last step done (or the last
compensation done) the system is inconsistent: money taken, no parcel. ``result.sagas``
records that window for every saga.

**If the orchestrator crashes** in the middle, its thread is gone, and with it the
memory of where the saga was: the saga is "abandoned", at the instant of the crash. A
step in progress runs on without it (its service did not crash; if it succeeds, it
counts in ``steps_done``), and nobody finishes the saga or undoes its steps, so it stays
inconsistent to the end of the run, as a stuck one does. (Real orchestrators keep a
saga log in a database and resume from it after a restart; simlab leaves that out, to
show why they need one.) So every saga ends with one outcome:
completed, compensated, stuck or abandoned; "pending" means only "still running when
the run stopped", and a run that drains has none.
"""

import math
from dataclasses import dataclass

from simpy.exceptions import Interrupt

from . import checks
from .calls import NO_FALLBACK, Call, make_call
from .errors import CallError, ModelError
from .resilience import Exponential, Retry


@dataclass(frozen=True)
class Saga:
    """The steps of a saga: ``(service, endpoint, compensation endpoint or None)``."""

    steps: tuple
    timeout: float = None
    compensation_retry: Retry = Retry(attempts=5, backoff=Exponential(0.1))

    def __post_init__(self):
        if isinstance(self.steps, str) or not hasattr(self.steps, "__iter__") \
                or not all(isinstance(step, (tuple, list)) for step in self.steps):
            raise ModelError(f"Saga: give the steps as a list of (service, endpoint, "
                             f"compensation endpoint or None), got {self.steps!r}")
        steps = tuple(tuple(step) for step in self.steps)
        if not steps:
            raise ModelError("Saga: give at least one step (service, endpoint, compensation)")
        for step in steps:
            if len(step) != 3 or not all(isinstance(part, str) or part is None for part in step) \
                    or step[0] is None or step[1] is None:
                raise ModelError(f"Saga: each step is (service, endpoint, compensation endpoint "
                                 f"or None), got {step!r}")
        object.__setattr__(self, "steps", steps)
        checks.seconds("Saga", "timeout", self.timeout, positive=True, none="no timeout")
        if not isinstance(self.compensation_retry, Retry):
            checks.refuse("Saga", "compensation_retry", "an sl.Retry(...)",
                          self.compensation_retry)


class SagaRun:
    """What ``ctx.saga(...)`` returns: yield it to run the saga."""

    __slots__ = ("context", "saga", "payload")

    def __init__(self, context, saga, payload):
        self.context = context
        self.saga = saga
        self.payload = payload


def run_saga(run, request):
    """Generator: run the saga's steps, compensate on failure; return the outcome."""
    context, saga, payload = request.context, request.saga, request.payload
    env, sagas = run.env, run.recorder.sagas
    record = sagas.add(saga_id=len(sagas) + 1, trace_id=context.trace_id,
                       service=context.station.name, start=env.now, end=math.nan,
                       outcome="pending", failed_step="", steps_done=0, first_done=math.nan)
    done = []

    def late(answer):  # the orchestrator crashed while a step was in flight: did it happen?
        if answer.ok:
            _step_done(sagas, record, env)

    for service, endpoint, compensation in saga.steps:
        step = Call(context, service, endpoint, payload, saga.timeout, late=late)
        try:
            yield from make_call(run, step)
        except Interrupt:  # the orchestrator crashed, now (``serve`` ends its request)
            _abandon(sagas, record, context, f"{service}.{endpoint}")
            raise
        except CallError as error:
            sagas.set(record, failed_step=f"{service}.{endpoint}")
            if error.kind == "timeout":  # it may have happened: undo it too (idempotently)
                done.append((service, compensation))
                _first_visible(sagas, record, env.now)
            run.recorder.log(context.trace_id, context.span_id, context.station.name,
                             "warning", f"saga step {service}.{endpoint} failed ({error}); "
                             f"compensating {len(done)} step(s)")
            break
        done.append((service, compensation))
        _step_done(sagas, record, env)
    else:
        return _finish(sagas, record, env, "completed")
    for service, compensation in reversed(done):
        if compensation is None:
            continue
        undo = Call(context, service, compensation, payload, saga.timeout,
                    retry=saga.compensation_retry, fallback=NO_FALLBACK)
        try:
            yield from make_call(run, undo)
        except Interrupt:  # the orchestrator crashed, now (``serve`` ends its request)
            _abandon(sagas, record, context, f"{service}.{compensation}")
            raise
        except CallError as error:
            run.recorder.log(context.trace_id, context.span_id, context.station.name, "error",
                             f"saga stuck: compensation {service}.{compensation} failed "
                             f"({error})")
            return _finish(sagas, record, env, "stuck")
    return _finish(sagas, record, env, "compensated")


def _first_visible(sagas, record, now):
    """From ``now`` on, part of the transaction is visible (if it was not already)."""
    if math.isnan(sagas.get(record, "first_done")):
        sagas.set(record, first_done=now)


def _step_done(sagas, record, env):
    """A step succeeded (also one that its orchestrator, crashed, will never hear of)."""
    sagas.set(record, steps_done=sagas.get(record, "steps_done") + 1)
    _first_visible(sagas, record, env.now)


def _abandon(sagas, record, context, step):
    """The orchestrator crashed during ``step``: record the saga abandoned, now."""
    station = context.station
    sagas.set(record, end=station.env.now, outcome="abandoned")
    station.run.recorder.log(context.trace_id, context.span_id, station.name, "error",
                             f"saga abandoned: {station.name} crashed during {step}, with "
                             f"{sagas.get(record, 'steps_done')} step(s) done; nobody will "
                             "finish or undo them")


def _finish(sagas, record, env, outcome):
    sagas.set(record, end=env.now, outcome=outcome)
    return outcome
