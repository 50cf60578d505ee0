"""Confidence intervals for the mean of replications (one run is one sample)."""

import math
import statistics

from .errors import ModelError

# Two-sided 95% Student t quantiles by degrees of freedom (1..30); beyond 30 the
# normal value 1.96 is within 2%. A table keeps scipy out of the dependencies.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


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
