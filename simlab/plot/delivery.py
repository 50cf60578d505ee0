"""Figures of deployments: a canary's traffic weight and verdicts, and deployment markers
for any time plot."""

import numpy as np
from matplotlib.transforms import blended_transform_factory

from ._common import FAILED, axes, shade_faults

OUTCOME_COLOR = {"succeeded": "tab:green", "rolled_back": "tab:brown",
                 "in_progress": "tab:gray"}
VERDICT_COLOR = {"pass": "tab:green", "fail": FAILED, "inconclusive": "tab:gray"}


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


def canary(result, service, ax=None):
    """The traffic weight of each version of ``service`` over time (steps), with each
    canary analysis as a dot at its weight: green pass, red fail, grey inconclusive.

    Example:
        >>> sl.plot.canary(result, "orders")
    """
    ax = axes(ax)
    traffic = result.traffic[result.traffic.service == service]
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
    shade_faults(ax, result)
    ax.set_ylim(-3, 105)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("share of traffic (%)")
    ax.set_title(f"Deployments of {service}: traffic per version, canary checks")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="center right")
    return ax
