"""Checks for the exercise notebooks: they judge the learner's work, not a number.

Each exercise notebook imports its module (``import simlab.exercises.ex01 as check``) and
ends every task with a check cell such as ``check.task1(predict_success)``. The check
runs what the learner wrote (a function, a handler, a set of parameters) on seeds the
learner has not seen, often at a load the learner has not tried, and judges the
property the task asks for, with tolerances from the spread over several seeds. It
keeps its expected values inside its own functions: a check cell leaves no new name in
the notebook, and its messages say what is wrong and give a hint, never the answer.

What a learner sees: a green box (passed) or a red one (not yet) under the check cell.
A failing check does not raise, so *Run All* runs to the end and every task reports in
its own cell. Where a failure must stop the run — tests, nbval — set the environment
variable ``SIMLAB_CHECKS=raise``: a failing check then also raises ``AssertionError``
(the repository's ``conftest.py`` does so). Every verdict is also in the cell's output as
``application/vnd.simlab.check+json``, which ``python -m simlab.grade`` reads.

Example (in a check module):
    >>> @task("Task 1 — Availability along a chain")
    ... def task1(predict_success):
    ...     guess = ask(predict_success, "sync", {"payments": 0.1})
    ...     require(0 <= guess <= 1, "predict_success must return a probability.")
    ...     return "right on every shop the check tried."
"""

import copy
import functools
import html
import inspect
import math
import os
import statistics

from ..errors import SimlabError
from ..experiments import t95

MIME = "application/vnd.simlab.check+json"
MODE = "SIMLAB_CHECKS"      # "raise": a failing check raises AssertionError too


class NotYet(Exception):
    """Raised inside a check: the learner's work misses something. The message says what
    is wrong and gives a hint; ``detail`` (optional) is a counterexample to show as is."""

    def __init__(self, message, detail=""):
        super().__init__(message)
        self.detail = detail


def require(condition, message, detail=""):
    """Go on if ``condition`` holds, else stop the check with ``message``."""
    if not condition:
        raise NotYet(message, detail)


def task(title):
    """Make ``judge(*answers)`` a check: it returns a line of praise or raises ``NotYet``.

    The check shows its verdict and returns nothing (so nothing lands in the notebook's
    ``_`` or ``Out``).
    """
    def decorate(judge):
        @functools.wraps(judge)
        def check(*answers):
            try:
                passed, message, detail = True, judge(*answers), ""
            except NotYet as problem:
                passed, message, detail = False, str(problem), problem.detail
            show(title, passed, message, detail)
        return check
    return decorate


def show(title, passed, message, detail=""):
    """Display a verdict (a box in a notebook, text elsewhere); raise if asked to."""
    mark = "✓" if passed else "✗"
    text = f"{mark} {title}: {'passed' if passed else 'not yet'}. {message}"
    if detail:
        text += "\n" + detail
    colour, ground = ("#1b5e20", "#e8f5e9") if passed else ("#b00020", "#fdecea")
    box = (f'<div style="border-left: 6px solid {colour}; background: {ground}; '
           f'padding: 6px 12px; margin: 4px 0">'
           f'<b style="color: {colour}">{mark} {html.escape(title)}: '
           f'{"passed" if passed else "not yet"}.</b> {html.escape(message)}'
           + (f'<pre style="margin: 6px 0 0; font-size: 85%">{html.escape(detail)}</pre>'
              if detail else "") + "</div>")
    verdict = {"task": title, "passed": passed, "message": message}
    try:
        from IPython import get_ipython
        from IPython.display import display
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        display({"text/plain": text, "text/html": box, MIME: verdict}, raw=True)
    else:
        print(text)
    if not passed and os.environ.get(MODE) == "raise":
        raise AssertionError(text)


# -- a learner's guess, beside the measurement (lessons) ------------------------------------

def compare_guess(guess, measured, unit="", digits=0):
    """One line for a lesson's "predict" cells: the simulated value, and the learner's
    guess beside it (``None``: no guess written yet).

    Example:
        >>> compare_guess(200, 210.4, " ms")
        'simulated: 210 ms · your guess: 200 ms (5 % low)'
    """
    shown = f"simulated: {measured:,.{digits}f}{unit}"
    if guess is None:
        return shown + " · your guess: none yet"
    if isinstance(guess, bool) or not isinstance(guess, (int, float)):
        return shown + f" · your guess: {guess!r} (a number, please)"
    line = f"{shown} · your guess: {guess:,.{digits}f}{unit}"
    if measured:
        off = (guess - measured) / abs(measured)
        line += " (right on)" if abs(off) < 0.005 else \
            f" ({abs(off):.0%} {'high' if off > 0 else 'low'})".replace("%", " %")
    return line


# -- asking the learner's code ------------------------------------------------------------

def ask(function, *args, name=None):
    """Call the learner's ``function(*args)``; a stub or a bug becomes a clear ``NotYet``."""
    name = name or getattr(function, "__name__", "your function")
    require(callable(function), f"{name} is {function!r}, not a function: write it with def.")
    shown = ", ".join(_short(arg) for arg in args)
    try:
        return function(*args)
    except NotImplementedError:
        raise NotYet(f"{name} still raises NotImplementedError: replace the stub with your "
                     "code, run its cell, then this one.") from None
    except NotYet:
        raise
    except SimlabError as error:
        raise NotYet(f"{name}({shown}) stopped with {type(error).__name__}: {error}") from None
    except Exception as error:  # noqa: BLE001 — a learner's bug: say where, as Python would
        raise NotYet(f"{name}({shown}) raised {type(error).__name__}: {error}. "
                     "Run it yourself with these arguments to see where.") from None


def run(world, what="the model"):
    """``world.run()``, with a handler's bug turned into a clear ``NotYet``."""
    try:
        return world.run()
    except SimlabError as error:
        raise NotYet(f"{what} stopped with {type(error).__name__}: {error}") from None


def number(value, name, low=-math.inf, high=math.inf, whole=False):
    """``value`` as a float (or int), checked to be a number in [low, high]."""
    require(value is not None, f"{name} is None: replace the placeholder with your answer.")
    require(not isinstance(value, bool) and isinstance(value, (int, float))
            or hasattr(value, "__float__") and not isinstance(value, (str, bytes)),
            f"{name} must be a number, got {_short(value)}.")
    value = float(value)
    require(not math.isnan(value), f"{name} is NaN: a measurement over no rows?")
    if whole:
        require(value.is_integer(), f"{name} must be a whole number, got {value:g}.")
        value = int(value)
    require(low <= value <= high, f"{name} must be between {low:g} and {high:g}, got {value:g}.")
    return value


def _short(value, width=60):
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


# -- tolerances from replications ---------------------------------------------------------

def interval(values):
    """``(mean, half_width)`` of the 95 % confidence interval of the mean of ``values``."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return values[0], math.inf
    return statistics.fmean(values), t95(len(values) - 1) * statistics.stdev(values) \
        / math.sqrt(len(values))


def proportion_band(successes, trials, z=3.3):
    """``(share, half_width)``: a binomial share and z standard errors around it (z = 3.3:
    about one wrong verdict in a thousand for a right answer)."""
    share = successes / trials
    return share, z * math.sqrt(max(share * (1 - share), 1e-4) / trials)


def off_by(guess, measured, slack):
    """How a guess compares with a measurement ± slack: "" if within, else a direction."""
    if guess > measured + slack:
        return "too high"
    if guess < measured - slack:
        return "too low"
    return ""


# -- state a handler keeps in memory --------------------------------------------------------

_CONTAINERS = (set, dict, list, bytearray)


def memory_of(function):
    """The mutable containers a handler can reach outside ``ctx``: the globals it names,
    the variables it closes over, its default arguments and its own attributes. These
    live in the Python process, not in the simulated service; a real crash would lose
    them (``ctx.memory`` is the simulated process's memory, and a crash empties it)."""
    found = {}
    code = getattr(function, "__code__", None)
    if code is None:
        return found
    names, stack = set(), [code]
    while stack:                           # the names of nested functions and lambdas too
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(c for c in current.co_consts if inspect.iscode(c))
    for name in sorted(names):
        value = function.__globals__.get(name)
        if isinstance(value, _CONTAINERS):
            found[name] = value
    for name, cell in zip(code.co_freevars, function.__closure__ or ()):
        try:
            if isinstance(cell.cell_contents, _CONTAINERS):
                found[name] = cell.cell_contents
        except ValueError:                 # an empty cell
            pass
    for index, value in enumerate(function.__defaults__ or ()):
        if isinstance(value, _CONTAINERS):
            found[f"default argument {index + 1}"] = value
    for name, value in vars(function).items():
        if isinstance(value, _CONTAINERS) and not name.startswith("__"):
            found[f"{function.__name__}.{name}"] = value
    return found


def watched(function):
    """``function`` wrapped so that a run notes whether it touched Python memory.

    Returns ``(handler, touched)``: give ``handler`` to the model; after the run,
    ``touched`` lists the containers of ``memory_of(function)`` whose size changed while
    a handler ran, or whose contents differ at the end.
    """
    containers = memory_of(function)
    sizes = {name: len(value) for name, value in containers.items()}
    contents = {name: copy.deepcopy(value) for name, value in containers.items()}
    touched = []

    def note():
        for name, value in containers.items():
            if name not in touched and len(value) != sizes[name]:
                touched.append(name)

    @functools.wraps(function)
    def handler(ctx, payload):
        try:
            return (yield from function(ctx, payload))
        finally:
            note()

    def final():
        for name, value in containers.items():
            if name not in touched and value != contents[name]:
                touched.append(name)
        return touched

    handler.touched = final
    return handler


def require_no_memory(handler, name):
    """Stop if a ``watched`` handler kept state in the Python process during its run."""
    touched = handler.touched()
    require(not touched,
            f"{name} keeps state in the Python process ({', '.join(touched)} changed during "
            "the run). A real service loses its memory when it crashes, and a second instance "
            "never shares it; here ctx.memory plays that part and a crash empties it. Keep "
            "what must survive a crash in ctx.db.")
