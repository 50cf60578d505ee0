"""Helpers shared by the tests: binomial checks that can fail, span selections, a guard
against hangs, and the size of property tests."""

import math
import os
import signal
from contextlib import contextmanager

import numpy as np
from hypothesis import settings

Z = 4.0      # allowed distance from a probability, in standard errors
POWER = 2.0  # a plausible mistake must lie at least Z + POWER standard errors away


def assert_binomial(hits, trials, p, wrong, what):
    """``hits`` of ``trials`` agree with probability ``p`` within Z SE, and ``wrong`` (a
    plausible mistake) lies far enough away that the check would catch it."""
    se = math.sqrt(p * (1 - p) / trials)
    assert abs(wrong - p) >= (Z + POWER) * se, f"{what}: too few trials ({trials}) to tell"
    assert abs(hits / trials - p) < Z * se, (
        f"{what}: {hits}/{trials} = {hits / trials:.4f}, expected {p:.4f} "
        f"({(hits / trials - p) / se:+.1f} SE, allowed {Z})")


class Hung(BaseException):
    """Raised by the alarm below. A BaseException, so that no ``except Exception`` in the
    simulator (which turns a handler's bug into a HandlerError) can swallow it."""


@contextmanager
def fails_if_it_hangs(seconds):
    """Turn a hang into an error after ``seconds`` of wall-clock time (Unix only)."""
    def hung(signum, frame):
        raise Hung(f"still running after {seconds} s: no run limit stopped it")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def spans_of(result, service, kind="server"):
    """The spans of one kind recorded by one service."""
    spans = result.spans
    return spans[(spans.service == service) & (spans.kind == kind)]


def max_overlap(starts, ends):
    """The largest number of intervals [start, end) open at the same time."""
    times = np.concatenate([starts, ends])
    steps = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    order = np.lexsort((steps, times))  # at a tie, an end (-1) comes before a start (+1)
    return int(np.cumsum(steps[order]).max())


#: The hypothesis profile in force (see conftest.py): "ci" or "deep".
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


def examples(count):
    """Settings for a property test: ``count`` examples in the ci profile, ten times as
    many in the deep one. Everything else comes from the profile."""
    return settings(max_examples=count * (10 if PROFILE == "deep" else 1))


def check_no_work_outlives_a_crash(result):
    """A crash stops its service's work at that instant: every span of the crashed
    service still open when it went down ends then (in error, if it began before)."""
    spans = result.spans
    for crash in result.faults[result.faults.fault == "crash"].itertuples():
        own = spans[(spans.service == crash.target) & (spans.kind != "producer")]
        open_then = own[(own.start < crash.start) & (own.end > crash.start)]
        assert open_then.empty, f"work of {crash.target} outlived its crash:\n{open_then}"
        ended = own[(own.start < crash.start) & (own.end == crash.start)]
        assert (ended.status == "error").all(), ended
