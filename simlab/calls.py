"""Synchronous calls: the network hops, timeouts, and the resilience policies around them.

A call without a timeout, policies, network delay or network faults, from a service no
crash is scheduled for, is the fast path: the callee's ``serve`` runs inline in the
caller's SimPy process. Anything else runs through ``attempt`` (one client span per
attempt) and, with policies, ``resilient``.

**A crash stops a service's requests at once.** A crashed service interrupts the SimPy
process of each request it is working on (``Station.crash``), wherever it waits, so its
callers hear of the crash at that instant. What about the calls it was waiting on? Its
callees did not crash: a real one would finish its work and answer a connection that
is gone. simlab does the same, as after a timeout: the callee runs on, its answer goes
nowhere. That is why a service that may crash (one a crash is scheduled for) runs each
callee in a SimPy process of its own (a ``Chain``), as a call with a timeout always
does: the interrupt lands in the crashed service's own frames, and nothing else stops.
Inline, the callee would sit inside the caller's process, and die with it. (Inline
calls *to* a service that may crash are fine: as it calls nothing inline, its frame is
the innermost one of the process.) A run without crashes keeps the fast path
everywhere, and pays nothing for any of this.
"""

from simpy.events import AnyOf, Event, Process, Timeout
from simpy.exceptions import Interrupt

from .errors import SPIN_LIMIT, CallCycleError, CallError, ModelError, RunLimitError

NO_FALLBACK = object()  # fallback=None would be a legitimate fallback value


class Call:
    """A synchronous call a handler wants to make. Yield it: ``yield ctx.call(...)``."""

    __slots__ = ("context", "service", "endpoint", "payload", "timeout", "retry", "breaker",
                 "bulkhead", "fallback", "policies", "plain", "last_span", "late", "propagate")

    def __init__(self, context, service, endpoint, payload, timeout, retry=None, breaker=None,
                 bulkhead=None, fallback=NO_FALLBACK, late=None, propagate=True):
        self.context = context
        self.service = service
        self.endpoint = endpoint
        self.payload = payload
        self.timeout = timeout
        self.retry = retry
        self.breaker = breaker
        self.bulkhead = bulkhead
        self.fallback = fallback
        self.policies = retry is not None or breaker is not None or bulkhead is not None \
            or fallback is not NO_FALLBACK
        self.plain = timeout is None and not self.policies and propagate
        self.last_span = 0  # the client span of its latest attempt (its fallback flag)
        # Called with the callee's process, if the caller crashed while waiting: the
        # callee runs on, and a saga's ledger still wants to know whether it succeeded.
        self.late = late
        # False: the call carries no trace context (no traceparent header), so the callee
        # starts a trace of its own (see attempt).
        self.propagate = propagate

    def __repr__(self):
        return f"Call({self.service}.{self.endpoint}, timeout={self.timeout})"


class Chain:
    """The SimPy process in which a request (or message) is worked on, for a crash to
    interrupt. Only made in a run with crashes scheduled."""

    __slots__ = ("process",)

    def __init__(self, process=None):
        self.process = process  # set once the request has a process (see Run.request)

    def stop(self, crashed):
        """Interrupt the process where it waits: service ``crashed`` crashed."""
        if self.process is not None and self.process.is_alive:
            self.process.interrupt(crashed)


def make_call(run, call):
    """The generator that makes ``call`` for the handler whose context it carries."""
    context = call.context
    caller = context.station
    callee = run.stations.get(call.service)
    if callee is None:
        raise ModelError(f"{caller.name} calls unknown service {call.service!r}; known "
                         f"services: {sorted(run.stations)}")
    endpoint = callee.endpoints.get(call.endpoint)
    if endpoint is None:
        raise ModelError(f"{caller.name} calls unknown endpoint {call.endpoint!r} of "
                         f"{call.service!r}; it has: {sorted(callee.endpoints)}")
    if call.service in context.stack:
        cycle = " -> ".join(context.stack + (call.service,))
        raise CallCycleError(f"synchronous call cycle: {cycle}. A request may not call back "
                             "into a service already on its call stack (it would wait on "
                             "itself); break the cycle, or publish an event instead")
    stack = context.stack + (call.service,)
    if call.plain and run.latency is None and not run.network_faults and not caller.crashable:
        # The fast path: the client span is made from the callee's span when the table is
        # built (simlab.span_layout), as it starts and ends with it.
        return callee.serve(endpoint, call.payload, context.trace_id, context.span_id, stack,
                            caller_version=caller.version, chain=context.chain)
    if call.policies:
        return resilient(run, call, caller, callee, endpoint, stack)
    return attempt(run, call, caller, callee, endpoint, stack, 1)


def attempt(run, call, caller, callee, endpoint, stack, number):
    """Generator: attempt ``number`` of a call, with its own client span."""
    recorder = run.recorder
    trace = call.context.trace_id
    span = recorder.open_span(trace, call.context.span_id, caller.name, endpoint.where,
                              "client", caller.version, attempt=number)
    call.last_span = span  # for the fallback flag
    apart = call.timeout is not None or caller.crashable  # the callee in its own process
    chain = call.context.chain  # None in a run without crashes
    if apart and chain is not None:
        chain = Chain()
    if call.propagate:
        journey = remote(run, caller, callee, endpoint, call.payload, trace, span, stack, chain)
    else:  # no traceparent on the wire: the callee's span is the root of a new trace
        journey = remote(run, caller, callee, endpoint, call.payload, recorder.new_trace(), 0,
                         stack, chain)
    try:
        if call.timeout is not None:
            value = yield from with_timeout(run, journey, call.timeout, endpoint.where, chain,
                                            call.late)
        elif apart:
            value = yield from in_process(run, journey, chain, call.late)
        else:
            value = yield from journey
    except Interrupt:  # the caller crashed: it hears nothing more (see the top)
        recorder.close_span(span, "error")
        raise
    except CallError as error:
        recorder.close_span(span, error.kind)
        if error.kind == "timeout" and error.where == endpoint.where:
            recorder.span_event(trace, span, "exception", str(error))
            recorder.log(trace, span, caller.name, "warning", str(error))
        raise
    recorder.close_span(span, "ok")
    return value


def remote(run, caller, callee, endpoint, payload, trace, parent, stack, chain):
    """Generator: the hop there, the callee's work, the hop back."""
    yield from hop(run, caller, callee)
    value = yield from callee.serve(endpoint, payload, trace, parent, stack, chain=chain)
    yield from hop(run, callee, caller)
    return value


def hop(run, source, target):
    """Generator: one network hop. A hop cut by a partition or lost on a lossy link never
    arrives: whoever waits for it waits until a timeout ends the wait, or for ever."""
    if run.latency is not None:
        yield Timeout(run.env, run.latency.sample(source.network_rng))
    if run.network_faults and run.network.drops(source.name, target.name):
        yield Event(run.env)  # never triggered: the packet is gone


def in_process(run, journey, chain, late=None):
    """Generator: run ``journey`` at once up to its first wait, then in a process of its
    own (``chain``'s), and wait for it. (A call refused at once makes no process.)"""
    try:
        event = journey.send(None)
    except StopIteration as done:
        return done.value
    callee = chain.process = Process(run.env, resume(journey, event))
    try:
        return (yield callee)
    except Interrupt:  # the caller crashed: the callee runs on, its answer goes nowhere
        _orphan(callee, late)
        raise


def with_timeout(run, journey, timeout, where, chain=None, late=None):
    """Generator: run ``journey`` in its own process (``chain``'s, if given); stop waiting
    after ``timeout``. ``late``: see ``Call``."""
    env = run.env
    callee = Process(env, journey)
    if chain is not None:
        chain.process = callee
    either = AnyOf(env, (callee, Timeout(env, timeout)))
    try:
        yield either  # raises if the callee failed first
    except Interrupt:  # the caller crashed: the callee runs on, its answer goes nowhere
        either.callbacks.append(_defuse_call_errors)
        if not callee.processed:  # (it may have ended the instant the caller crashed)
            _orphan(callee, late)
        raise
    if callee.triggered:
        if callee.ok:
            return callee.value
        callee.defused = True
        raise callee.value
    callee.callbacks.append(_defuse_call_errors)  # nobody waits for it any more
    raise CallError("timeout", where, f"no answer within {timeout:g} s")


def _orphan(callee, late):
    """The caller of ``callee`` (a process) is gone: nobody waits for its answer."""
    callee.callbacks.append(_defuse_call_errors)
    if late is not None:
        callee.callbacks.append(late)


def _defuse_call_errors(event):
    """Nobody waits for ``event`` any more: its failure, if a CallError, is no news."""
    if not event.ok and isinstance(event.value, CallError):
        event.defused = True


def resilient(run, call, caller, callee, endpoint, stack):
    """Generator: fallback( retry( breaker( bulkhead( attempt with timeout ) ) ) )."""
    retry, key = call.retry, (caller.name, call.service)
    budget = run.retry_budget(key, retry) if retry is not None and retry.budget is not None \
        else None
    if budget is not None:
        budget.deposit()
    breaker = run.breaker(key, call.breaker) if call.breaker is not None else None
    bulkhead = run.bulkhead(key, call.bulkhead) if call.bulkhead is not None else None
    context, error, previous = call.context, None, 0.0
    started = run.env.now
    for number in range(1, (retry.attempts if retry else 1) + 1):
        if number > 1:
            if number > SPIN_LIMIT and run.env.now == started:
                raise RunLimitError(
                    f"{caller.name} retried {endpoint.where} {SPIN_LIMIT:,} times at "
                    f"t={started:.3f} s without time passing; give the retry a backoff")
            if budget is not None and not budget.withdraw():
                run.recorder.log(context.trace_id, context.span_id, caller.name, "warning",
                                 f"retry budget spent: no retry of {endpoint.where}")
                break
            previous = retry.delay(number - 1, previous, caller.retry_rng)
            retrying = f"retry {number - 1} of {endpoint.where} in {previous:.3f} s"
            run.recorder.span_event(context.trace_id, context.span_id, "retry", retrying)
            run.recorder.log(context.trace_id, context.span_id, caller.name, "info", retrying)
            if previous > 0:
                yield Timeout(run.env, previous)  # a crash of the caller interrupts it
        try:
            return (yield from guarded(run, call, caller, callee, endpoint, stack, breaker,
                                       bulkhead, number))
        except CallError as failure:
            error = failure
            if retry is None or failure.kind not in retry.on:
                break
    if call.fallback is NO_FALLBACK:
        raise error
    run.recorder.spans.set(call.last_span - 1, fallback=True)
    run.recorder.log(context.trace_id, context.span_id, caller.name, "warning",
                     f"fallback for {endpoint.where} after: {error}")
    return call.fallback(error) if callable(call.fallback) else call.fallback


def guarded(run, call, caller, callee, endpoint, stack, breaker, bulkhead, number):
    """Generator: one attempt behind the circuit breaker and the bulkhead."""
    where = endpoint.where
    admitted = _pass_breaker(run, call, caller, where, breaker, number)
    if bulkhead is not None:
        if bulkhead.busy < bulkhead.policy.max_concurrent:
            bulkhead.busy += 1
        elif len(bulkhead.waiting) < bulkhead.policy.max_waiting:
            place = Event(run.env)
            bulkhead.waiting.append(place)
            try:
                yield place  # the place is handed over by the call that frees it
            except Interrupt:  # the caller crashed while it waited for a place
                if place.triggered:
                    _free_place(bulkhead)  # handed over at that very instant: pass it on
                else:
                    bulkhead.waiting.remove(place)
                if breaker is not None:
                    breaker.withdraw(admitted)
                raise
            if breaker is not None and admitted != breaker.generation:
                # The breaker changed while this call waited: ask it again.
                try:
                    admitted = _pass_breaker(run, call, caller, where, breaker, number)
                except CallError:
                    _free_place(bulkhead)
                    raise
        else:
            if breaker is not None:
                breaker.withdraw(admitted)  # a probe that never went out
            _turned_away(run, call, caller, where, number, "bulkhead_rejected")
            raise CallError("rejected", where, "bulkhead full")
    try:
        value = yield from attempt(run, call, caller, callee, endpoint, stack, number)
    except CallError:
        if breaker is not None:
            breaker.record(True, admitted)
        raise
    except Interrupt:  # the caller crashed: the answer will never reach it
        if breaker is not None:
            breaker.withdraw(admitted)
        raise
    finally:
        if bulkhead is not None:
            _free_place(bulkhead)
    if breaker is not None:
        breaker.record(False, admitted)
    return value


def _pass_breaker(run, call, caller, where, breaker, number):
    """The breaker's state generation the call is let through in (None: no breaker);
    a rejected call gets a zero-length client span and a CallError."""
    if breaker is None:
        return None
    admitted = breaker.admit()
    if admitted is None:
        _turned_away(run, call, caller, where, number, "breaker_rejected")
        raise CallError("rejected", where, "circuit breaker open")
    return admitted


def _turned_away(run, call, caller, where, number, why):
    """A call its own caller's policy refused: a zero-length client span, with why."""
    trace = call.context.trace_id
    span = run.recorder.instant_span(trace, call.context.span_id, caller.name, where, "client",
                                     caller.version, "rejected", attempt=number)
    run.recorder.span_event(trace, span, why)
    call.last_span = span


def _free_place(bulkhead):
    if bulkhead.waiting:
        bulkhead.waiting.popleft().succeed()  # hand the place straight to the next in line
    else:
        bulkhead.busy -= 1


def resume(generator, event):
    """Generator: go on with ``generator``, which has started and now waits for ``event``.

    A request (or a call from a service that may crash) runs inline up to its first
    wait (see ``Run.request``, ``in_process``); from there a SimPy process takes it over
    through this (``Process`` itself would start it afresh).
    """
    while True:
        try:
            value = yield event
        except Exception as error:  # the event failed, or the process was interrupted
            try:
                event = generator.throw(error)
            except StopIteration as done:
                return done.value
        else:
            try:
                event = generator.send(value)
            except StopIteration as done:
                return done.value
