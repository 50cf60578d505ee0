"""Experiments: replications and comparisons, with confidence intervals.

One run is one sample. To say "async has a lower p99 than sync" you need several runs
(replications, each with its own seed) and an interval around each mean.

Example:
    >>> from simlab.scenarios import shop
    >>> table = compare({"sync": lambda: shop("sync"), "async": lambda: shop("async")},
    ...                 seeds=range(1, 6))
"""

import pandas as pd

from . import checks

from .intervals import mean_ci, t95
from .results import SUMMARY
from .sweeps import sweep

__all__ = ["compare", "replicate", "mean_ci", "t95", "SUMMARY"]


def replicate(build, seeds, metric=None, executor=None, progress=False):
    """Run ``build()`` once per seed; one row of ``summary()`` (or of ``metric(result)``) each.

    ``executor`` and ``progress`` are as in ``sweep``: the runs may go side by side. No
    progress bar unless asked: a lesson's printed numbers stay the same, however long
    the runs take.
    """
    seeds = checks.seeds("replicate", seeds)
    metrics = None if metric is None else (lambda result: pd.Series(metric(result)))
    runs = sweep(lambda: build(), seeds=seeds, metrics=metrics, executor=executor,
                 progress=progress, errors="raise").runs
    return runs.drop(columns="error").set_index("seed")


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
    seeds = checks.seeds("compare", seeds, least=2, why="a confidence interval needs 2 "
                         "seeds or more (seeds=range(1, 6), say); with one seed, run each "
                         "design's world and read result.summary()")
    builders = dict(designs)
    swept = sweep(lambda design: builders[design](), grid={"design": list(builders)},
                  seeds=seeds, metrics=list(metrics), executor=executor, progress=progress,
                  errors="raise")
    table = swept.means().drop(columns=["runs", "failed"], level=0)
    table.index = list(builders)
    return table
