"""Input checks: what a good time, count, rate, probability, name or seed is, said once.

Every public entry point (``sl.World``, ``world.service``, ``sl.Poisson``, ``ctx.call``,
``world.faults.crash`` ...) checks its arguments with these functions, so a mistake is
refused the same way everywhere: a ``ModelError`` whose message names the owner and the
parameter, shows the bad value, and says what would be right::

    >>> import simlab as sl
    >>> sl.Exp(mean=float("nan"))
    Traceback (most recent call last):
    ...
    simlab.errors.ModelError: Exp: mean must be a positive number of seconds, got nan

A value of the wrong *type* (a string, a list, None or True where a number belongs)
raises ``ModelTypeError``, a ``ModelError`` that is also a ``TypeError``.

Two rules hold for every number:

* **NaN and infinity are refused.** A simulation cannot wait NaN seconds, and every
  comparison with NaN is false, so a NaN that got in would silently switch checks off.
  "For ever" is written ``None`` where it makes sense (no timeout, no queue limit).
* **True and False are not numbers here**, although Python lets them pass for 1 and 0:
  ``workers=True`` is a mistake, not one worker.

Each function returns the value it accepted, so a check reads as an assignment:
``self.workers = checks.count(owner, "workers", workers, none=True)``.
"""

import math
import numbers

from .errors import ModelError, ModelTypeError


def is_number(value):
    """A real number that is not a bool (numpy numbers count; NaN and inf are numbers too)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def refuse(owner, what, need, value, hint=""):
    """Raise the error for ``owner``'s parameter ``what``: ``need`` says what it must be.

    A value that is a number (a wrong one) is a ``ModelError``; anything else (a string,
    None, a bool, a list) is a ``ModelTypeError``.
    """
    error = ModelError if is_number(value) else ModelTypeError
    raise error(f"{owner}: {what} must be {need}, got {value!r}{hint}")


def _finite_number(value):
    return is_number(value) and math.isfinite(value)


def seconds(owner, what, value, *, positive=False, none=None, unit="seconds"):
    """A finite time in seconds: 0 or more, or more than 0 if ``positive``.

    ``none`` says what ``None`` means where it is allowed (e.g. "no timeout"); ``unit``
    names the time unit in the message where the clock is read otherwise (the delivery
    side reads it as "minutes").
    """
    if value is None and none:
        return None
    if not _finite_number(value) or value < 0 or (positive and value == 0):
        need = f"{'a positive' if positive else 'a non-negative'} number of {unit}"
        refuse(owner, what, need + (f" (or None for {none})" if none else ""), value)
    return value


def count(owner, what, value, *, least=1, none=None):
    """A whole number, ``least`` or more (a numpy integer will do; 2.0 will not).

    ``none`` says what ``None`` means where it is allowed (e.g. "no limit").
    """
    if value is None and none:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < least:
        need = f"a whole number, {least} or more" + (f" (or None for {none})" if none else "")
        refuse(owner, what, need, value)
    return int(value)


def positive(owner, what, value, unit="", *, least=None):
    """A finite number above 0 (or ``least`` or more): a rate, a factor.

    ``unit`` completes the message: "of requests per second", say.
    """
    if not _finite_number(value) or (value <= 0 if least is None else value < least):
        need = "a positive number" if least is None else f"a number, {least:g} or more"
        refuse(owner, what, need + (f" {unit}" if unit else ""), value)
    return value


def probability(owner, what, value, *, zero=True):
    """A probability: between 0 and 1 (above 0 if not ``zero``)."""
    if not _finite_number(value) or value > 1 or value < 0 or (value == 0 and not zero):
        refuse(owner, what, "a number between 0 and 1" if zero else
               "a number above 0, at most 1", value)
    return value


def name(kind, value):
    """A name: a non-empty string. It appears in every DataFrame."""
    if not isinstance(value, str) or not value.strip():
        error = ModelError if isinstance(value, str) else ModelTypeError
        raise error(f"a {kind} needs a non-empty name (a string), got {value!r}")
    return value


def seed(owner, value, what="seed"):
    """A seed: a whole number, such as 7 (a numpy integer will do).

    Not 7.0 nor "7": a seed names a run, and two spellings of one number must not
    silently give two different runs.
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        refuse(owner, what, "a whole number such as 7", value)
    return int(value)


def pair_of_seconds(owner, what, value, *, positive=False, unit="seconds"):
    """A ``(low, high)`` pair of finite times in seconds (or ``unit``), low <= high."""
    sign = "positive" if positive else "non-negative"
    if not isinstance(value, (tuple, list)) or len(value) != 2 \
            or not all(_finite_number(part) for part in value) \
            or value[0] > value[1] or value[0] < 0 or (positive and value[0] == 0):
        refuse(owner, what, f"a (low, high) pair of {sign} numbers of {unit}, low <= high, "
               "such as (1.0, 5.0)", value if not isinstance(value, list) else tuple(value))
    return tuple(value)


def one_of(owner, what, value, choices, hint=""):
    """One of a closed list of choices (strings, or None)."""
    if value not in choices:
        refuse(owner, what, f"one of {list(choices)}", value, hint)
    return value


def seeds(owner, values, least=1, why=""):
    """A list of whole-number seeds, at least ``least`` of them (``why``: the reason,
    and what to do with fewer, for the message)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        refuse(owner, "seeds", "a list of whole numbers such as range(1, 6)", values)
    checked = [seed(owner, value, what="each of the seeds") for value in values]
    if not checked:
        raise ModelError(f"{owner}: give at least one seed, e.g. seeds=range(1, 6)")
    if len(checked) < least:
        raise ModelError(f"{owner}: seeds={checked}: {why}")
    return checked
