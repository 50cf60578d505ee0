"""Figures of deployments: a canary's traffic weight and verdicts. (Every time plot of the
services marks deployments through ``shade_faults``; ``mark_deployments`` adds them to
an axis of your own.)"""

import numpy as np

from ..errors import ModelError
from ._common import FAILED, axes, mark_deployments, shade_faults, time_label

VERDICT_COLOR = {"pass": "tab:green", "fail": FAILED, "inconclusive": "tab:gray"}


def canary(result, service, ax=None):
    """The traffic weight of each version of ``service`` over time (steps), with each
    canary analysis as a dot at its weight: green pass, red fail, grey inconclusive.

    Example:
        >>> sl.plot.canary(result, "orders")
    """
    if service not in result.services:
        raise ModelError(f"plot.canary: unknown service {service!r}; known: "
                         f"{sorted(result.services)}")
    ax = axes(ax)
    traffic = result.traffic[result.traffic.service == service]
    if traffic.empty:  # say so, rather than draw empty axes
        ax.text(0.5, 0.5, f"no deployment of {service} in this run", ha="center",
                transform=ax.transAxes)
    for version, rows in traffic.groupby("version", sort=False):
        # The weight holds until the next change; draw it to the end of the run.
        times = np.append(rows.time.to_numpy(), result.end_time)
        weights = np.append(rows.weight.to_numpy(), rows.weight.iloc[-1]) * 100
        ax.plot(times, weights, drawstyle="steps-post", label=f"version {version}")
    checks = result.canary_checks[result.canary_checks.service == service]
    for verdict, rows in checks.groupby("verdict", sort=False):
        ax.scatter(rows.time, rows.weight * 100, color=VERDICT_COLOR[verdict], zorder=3,
                   s=30, edgecolor="black", lw=0.5, label=f"check: {verdict}")
    mark_deployments(ax, result, service, label=False)
    shade_faults(ax, result, deployments=False)
    ax.set_ylim(-3, 105)
    ax.set_xlabel(time_label(result))
    ax.set_ylabel("share of traffic (%)")
    ax.set_title(f"Deployments of {service}: traffic per version, canary checks")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="center right")
    return ax
