"""Experiments: replications and comparisons, with confidence intervals.

One run is one sample. To say "async has a lower p99 than sync" you need several runs
(replications, each with its own seed) and an interval around each mean.

Example:
    >>> from simlab.scenarios import shop
    >>> table = compare({"sync": lambda: shop("sync"), "async": lambda: shop("async")},
    ...                 seeds=range(1, 6))
"""

import math
import statistics

import pandas as pd

from . import checks
from .errors import ModelError

# Two-sided 95% Student t quantiles by degrees of freedom (1..30); beyond 30 the
# normal value 1.96 is within 2%. A table keeps scipy out of the dependencies.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


#: The names ``Result.summary()`` reports, which ``compare`` can take as metrics.
SUMMARY = ("requests", "ok", "error", "timeout", "rejected", "in_flight", "throughput",
            "error_rate", "latency_mean", "latency_p50", "latency_p95", "latency_p99",
            "completion_p50", "completion_p99", "lag_p50", "lag_p99", "pending_writes",
            "stale_reads", "stale_read_rate", "messages", "dead_lettered")


def t95(dof):
    """The two-sided 95% Student t quantile for ``dof`` degrees of freedom."""
    if dof < 1:
        raise ModelError("a confidence interval needs at least two replications")
    return _T95[dof - 1] if dof <= len(_T95) else 1.96


def mean_ci(values):
    """``(mean, half_width)`` of a 95% confidence interval for the mean of ``values``."""
    values = [v for v in values if not math.isnan(v)]
    if len(values) < 2:
        return (values[0] if values else math.nan), math.nan
    return statistics.fmean(values), t95(len(values) - 1) * statistics.stdev(values) / \
        math.sqrt(len(values))


def replicate(build, seeds, metric=None, executor=None, progress=False):
    """Run ``build()`` once per seed; one row of ``summary()`` (or of ``metric(result)``) each.

    ``executor`` and ``progress`` are as in ``sweep``: the runs may go side by side. No
    progress bar unless asked: a lesson's printed numbers stay the same, however long
    the runs take.
    """
    from .sweeps import sweep

    seeds = _seeds("replicate", seeds)
    metrics = None if metric is None else (lambda result: pd.Series(metric(result)))
    runs = sweep(lambda: build(), seeds=seeds, metrics=metrics, executor=executor,
                 progress=progress, errors="raise").runs
    return runs.drop(columns="error").set_index("seed")


def _seeds(owner, seeds):
    """A list of whole-number seeds, at least one."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        checks.refuse(owner, "seeds", "a list of whole numbers such as range(1, 6)", seeds)
    seeds = [checks.seed(owner, seed, what="each of the seeds") for seed in seeds]
    if not seeds:
        raise ModelError(f"{owner}: give at least one seed, e.g. seeds=range(1, 6)")
    return seeds


def compare(designs, seeds=range(1, 6), metrics=("throughput", "error_rate", "latency_p50",
                                                 "latency_p99", "completion_p99"),
            executor=None, progress=False):
    """Replicate each design on the same seeds; mean and 95% CI half-width per metric.

    Args:
        designs: ``{label: build}`` where ``build()`` returns a ``World``.
        seeds: one replication per seed, the same seeds for every design (common random
            numbers: the designs see the same customers, so differences are sharper).
        metrics: columns of ``Result.summary()`` to report.
        executor, progress: as in ``sweep``; the runs may go side by side. No progress
            bar unless asked (``progress=None`` shows one after a second).

    Returns:
        A DataFrame: one row per design, columns ``(metric, "mean")`` and ``(metric, "ci95")``.
    """
    from .sweeps import sweep

    seeds = _seeds("compare", seeds)
    builders = dict(designs)
    swept = sweep(lambda design: builders[design](), grid={"design": list(builders)},
                  seeds=seeds, metrics=list(metrics), executor=executor, progress=progress,
                  errors="raise")
    table = swept.means().drop(columns=["runs", "failed"], level=0)
    table.index = list(builders)
    return table
