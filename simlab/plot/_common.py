"""Shared helpers of the figures."""

import numpy as np
from matplotlib.transforms import blended_transform_factory

from .canvas import figure

FAILED = "tab:red"
OUTCOME_COLOR = {"succeeded": "tab:green", "rolled_back": "tab:brown",
                 "in_progress": "tab:gray"}


def axes(ax, size=(7, 3.5)):
    """``ax`` itself, or the axes of a new figure of ``size`` inches."""
    if ax is None:
        ax = figure(figsize=size).subplots()
    return ax


def time_label(result, what="time"):
    """An axis label for simulated time, in the unit the world's clock stands for
    (``World(time_unit=...)``): "time (s)", or "time (min)" on the delivery side's clock."""
    return f"{what} ({result.time_unit})"


def as_dict(results):
    """One Result, or a dict of them, as a dict ``{label: Result}``."""
    return results if isinstance(results, dict) else {f"seed {results.seed}": results}


def shade_faults(ax, result, label=True, deployments=True):
    """Shade each fault's time window on a time axis (and name it once); with
    ``deployments``, mark each deployment too (see ``mark_deployments``): every time plot
    of the services shows what changed in them."""
    named = set()
    for fault in result.faults.itertuples():
        end = fault.end if not np.isnan(fault.end) else result.end_time
        name = f"{fault.target} {fault.fault}"
        ax.axvspan(fault.start, end, color=FAILED, alpha=0.12, lw=0,
                   label=name if label and name not in named else None)
        named.add(name)
    if deployments:
        mark_deployments(ax, result, label=label)
    return ax


def mark_deployments(ax, result, service=None, label=True):
    """On a time axis: a vertical line where each deployment began, labelled with its
    version, and its rollout shaded until it ended (green: promoted, brown: rolled
    back, grey: in progress). ``service``: only that service's deployments."""
    rows = result.deployments
    if service is not None:
        rows = rows[rows.service == service]
    top = blended_transform_factory(ax.transData, ax.transAxes)  # x in data, y in axes
    named = set()
    for row in rows.itertuples():
        end = row.end if not np.isnan(row.end) else result.end_time
        color = OUTCOME_COLOR[row.outcome]
        name = f"deploy {row.outcome.replace('_', ' ')}"
        ax.axvspan(row.start, end, color=color, alpha=0.10, lw=0,
                   label=name if label and name not in named else None)
        named.add(name)
        ax.axvline(row.start, color=color, lw=1, ls=":")
        text = row.version if service is not None else f"{row.service} {row.version}"
        ax.text(row.start, 0.98, f" {text}", transform=top, fontsize=7, color=color,
                va="top", ha="left", rotation=90)
    return ax


def shade_bursts(ax, result, label=True):
    """Shade each burst of load on a time axis."""
    for start, end, name in result.bursts:
        ax.axvspan(start, end, color="tab:orange", alpha=0.18, lw=0,
                   label="burst" if label else None)
        label = False
    return ax
