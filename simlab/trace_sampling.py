"""Sampling traces: a real system keeps only some of them. Which ones, and what is lost?

A busy system makes far more spans and log lines than anyone can afford to store, so a
tracing pipeline keeps a sample. simlab records everything and samples afterwards, so
that the same run can be sampled several ways and compared (``sampling_report``).

* ``HeadSampling(rate)`` decides at the entry, before anything is known about the
  request: keep it with probability ``rate``. The decision travels downstream in the
  sampled flag of ``traceparent``, so every span and log line of a trace is kept or
  dropped together. Here the decision is a hash of the trace id and a seed: the same
  trace, the same decision, in every service. A trace split by a hop that did not
  propagate the context gets its own decision at its new root, so half a flow may be
  kept and the other half dropped.
* ``TailSampling(errors=True, slowest=0.05, slower_than=None)`` decides when the trace
  has ended, with everything known: keep every trace with a failed span, the slowest
  fraction, and every trace that took ``slower_than`` seconds or more. It keeps what you
  will want to look at, at the price of holding every trace until it ends.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ModelError
from .semconv import FAILED


def _mix(values):
    """SplitMix64's finaliser on an array of uint64: well-spread bits from any input."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _fraction(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ModelError(f"{owner}: {name} must be a fraction between 0 and 1, such as 0.1; "
                         f"got {value!r}")
    return float(value)


@dataclass(frozen=True)
class HeadSampling:
    """Keep each trace with probability ``rate``, decided at its root from its trace id."""

    rate: float

    def __post_init__(self):
        _fraction("HeadSampling", "rate", self.rate)

    def __str__(self):
        return f"head {self.rate:g}"

    def keep(self, traces, seed=0):
        """A boolean array: which of ``traces`` (``result.traces()``) to keep."""
        ids = np.array([int(t[-16:], 16) for t in traces.trace_id], dtype=np.uint64)
        salt = _mix(np.array([seed & (2**64 - 1)], dtype=np.uint64))[0]
        uniform = (_mix(ids ^ salt) >> np.uint64(11)).astype(np.float64) / 2.0**53
        return uniform < self.rate


@dataclass(frozen=True)
class TailSampling:
    """Keep, once each trace has ended, every trace with a failed span (``errors``), the
    ``slowest`` fraction of traces by duration (first span's start to last span's end),
    and every trace that lasted ``slower_than`` seconds or more (None: no threshold).

    ``slowest`` ranks the traces of the whole run, so it knows in advance how slow the
    slowest 5 % will be: a handy yardstick after the fact, but a real tail sampler
    decides each trace as it ends, without seeing the ones still to come. What it uses
    is a threshold, ``slower_than`` (the OpenTelemetry Collector's ``latency`` policy).

    Example:
        >>> TailSampling(slowest=0, slower_than=0.5)   # errors and every trace over 0.5 s
        TailSampling(errors=True, slowest=0, slower_than=0.5)
    """

    errors: bool = True
    slowest: float = 0.05
    slower_than: float | None = None

    def __post_init__(self):
        _fraction("TailSampling", "slowest", self.slowest)
        value = self.slower_than
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value < math.inf):
            raise ModelError(f"TailSampling: slower_than must be None or 0 or more seconds, "
                             f"such as 0.5; got {value!r}")

    def __str__(self):
        parts = (["errors"] if self.errors else []) + \
            ([f"slowest {self.slowest:g}"] if self.slowest else []) + \
            ([f"slower than {self.slower_than:g} s"] if self.slower_than is not None else [])
        return "tail: " + (" + ".join(parts) or "nothing")

    def keep(self, traces, seed=0):
        """A boolean array: which of ``traces`` to keep (``seed`` plays no part)."""
        kept = traces.errors.to_numpy() > 0 if self.errors else np.zeros(len(traces), bool)
        if self.slower_than is not None:
            kept |= traces.completion.to_numpy() >= self.slower_than
        return kept | _slowest(traces, self.slowest)


def _slowest(traces, fraction):
    """The ``fraction`` of ``traces`` with the longest completion (ties: the earlier)."""
    count = math.ceil(fraction * len(traces))
    chosen = np.zeros(len(traces), bool)
    if count:
        order = np.argsort(-traces.completion.fillna(np.inf).to_numpy(), kind="stable")
        chosen[order[:count]] = True
    return chosen


def _traces(result):
    """One row per trace: start, completion and its failed spans."""
    spans = result.spans
    end = spans.end.fillna(result.end_time)
    grouped = spans.groupby("trace_id", sort=True)
    table = pd.DataFrame({"start": grouped.start.min(),
                          "completion": end.groupby(spans.trace_id).max() - grouped.start.min(),
                          "errors": spans.status.isin(FAILED).groupby(spans.trace_id).sum()})
    return table.rename_axis("trace_id").reset_index()


@dataclass(frozen=True)
class Sample:
    """What a sampling policy kept: the ``trace_ids``, and the ``spans`` and ``logs`` of
    those traces (log lines of no trace, such as a fault's, are kept: no trace decides
    on them)."""

    policy: object
    trace_ids: pd.Index
    spans: pd.DataFrame
    logs: pd.DataFrame


def _check_policy(policy):
    if not isinstance(policy, (HeadSampling, TailSampling)):
        raise ModelError("sampling: policy must be sl.traces.HeadSampling(rate) or "
                         f"sl.traces.TailSampling(errors=..., slowest=..., slower_than=...); "
                         f"got {policy!r}")


def sample(result, policy, seed=0):
    """Apply ``policy`` to the traces of ``result``; return a ``Sample``. Same seed, same
    sample."""
    _check_policy(policy)
    traces = _traces(result)
    kept = pd.Index(traces.trace_id[policy.keep(traces, seed)], name="trace_id")
    spans = result.spans[result.spans.trace_id.isin(kept)]
    logs = result.logs[result.logs.trace_id.isin(kept) | (result.logs.trace_id == "")]
    return Sample(policy, kept, spans, logs)


def sampling_report(result, policies, slow=0.05, seed=0):
    """What each policy keeps, as shares: one row per policy.

    Columns: ``policy`` (its description), ``traces_kept``, ``spans_kept`` (what storing
    them costs), ``error_traces_kept`` (of the traces with a failed span) and
    ``slow_traces_kept`` (of the ``slow`` fraction of slowest traces): the traces
    someone will come looking for. NaN where there are none to keep.
    """
    if isinstance(policies, (HeadSampling, TailSampling)):
        policies = [policies]
    traces = _traces(result)
    spans_per_trace = result.spans.groupby("trace_id").size().reindex(traces.trace_id)
    failed = traces.errors.to_numpy() > 0
    slowest = _slowest(traces, _fraction("sampling_report", "slow", slow))
    rows = []
    for policy in policies:
        _check_policy(policy)
        kept = policy.keep(traces, seed)
        rows.append({"policy": str(policy),
                     "traces_kept": kept.mean() if len(kept) else np.nan,
                     "spans_kept": spans_per_trace[kept].sum() / spans_per_trace.sum()
                     if len(kept) else np.nan,
                     "error_traces_kept": kept[failed].mean() if failed.any() else np.nan,
                     "slow_traces_kept": kept[slowest].mean() if slowest.any() else np.nan})
    return pd.DataFrame(rows, columns=["policy", "traces_kept", "spans_kept",
                                       "error_traces_kept", "slow_traces_kept"])
