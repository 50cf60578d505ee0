"""Shared helpers of the figures."""

import numpy as np

from .canvas import figure

FAILED = "tab:red"


def axes(ax, size=(7, 3.5)):
    """``ax`` itself, or the axes of a new figure of ``size`` inches."""
    if ax is None:
        ax = figure(figsize=size).subplots()
    return ax


def as_dict(results):
    """One Result, or a dict of them, as a dict ``{label: Result}``."""
    return results if isinstance(results, dict) else {f"seed {results.seed}": results}


def shade_faults(ax, result, label=True):
    """Shade each fault's time window on a time axis (and name it once)."""
    named = set()
    for fault in result.faults.itertuples():
        end = fault.end if not np.isnan(fault.end) else result.end_time
        name = f"{fault.target} {fault.fault}"
        ax.axvspan(fault.start, end, color=FAILED, alpha=0.12, lw=0,
                   label=name if label and name not in named else None)
        named.add(name)
    return ax


def shade_bursts(ax, result, label=True):
    """Shade each burst of load on a time axis."""
    for start, end, name in result.bursts:
        ax.axvspan(start, end, color="tab:orange", alpha=0.18, lw=0,
                   label="burst" if label else None)
        label = False
    return ax
