"""Figures of requests: latency percentiles and distribution, latency over time, queues."""

import numpy as np
import pandas as pd

from ._common import FAILED, as_dict, axes, shade_bursts, shade_faults, time_label


def latency_percentiles(results, ax=None, percentiles=(50, 95, 99)):
    """Bars of latency percentiles (ms) of successful requests, one group per result.

    ``results`` is one ``Result`` or a dict ``{label: Result}`` to compare designs.
    """
    ax = axes(ax)
    results = as_dict(results)
    width = 0.8 / len(results)
    x = np.arange(len(percentiles))
    for i, (label, result) in enumerate(results.items()):
        ok = result.requests.latency[result.requests.outcome == "ok"]
        values = [ok.quantile(p / 100) * 1000 if len(ok) else np.nan for p in percentiles]
        bars = ax.bar(x + i * width, values, width, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(x + width * (len(results) - 1) / 2, [f"p{p}" for p in percentiles])
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency of successful requests")
    ax.legend()
    return ax


def latency_distribution(results, ax=None, bins=60):
    """Histogram of request latency (ms, log scale) of successful requests."""
    ax = axes(ax)
    results = as_dict(results)
    all_ok = [r.requests.latency[r.requests.outcome == "ok"] * 1000 for r in results.values()]
    values = pd.concat(all_ok)
    if values.empty:
        return ax
    edges = np.geomspace(max(values.min(), 1e-3), values.max() * 1.01, bins)
    for label, ok in zip(results, all_ok):
        ax.hist(ok, bins=edges, alpha=0.55, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("successful requests")
    ax.set_title("Latency of successful requests")
    ax.legend()
    return ax


def latency_over_time(result, ax=None, window=1.0, deployments=True):
    """p50 and p99 latency (ms) of the successful requests per time window, with the
    share of failed requests on a second axis (a window with no success leaves a gap).
    ``deployments``: mark each deployment (its version, its rollout shaded)."""
    ax = axes(ax)
    requests = result.requests
    finished = requests[requests.outcome != "in_flight"]
    bins = (finished.start // window) * window
    ok = finished[finished.outcome == "ok"]
    grouped = ok.groupby(bins[ok.index]).latency
    # Every window, even one with no successful request: there the line breaks (NaN)
    # instead of drawing a straight bridge across an outage.
    windows = np.arange(0, (bins.max() if len(bins) else 0) + window, window)
    ax.plot(windows, grouped.median().reindex(windows) * 1000, label="p50 of ok", color="tab:blue")
    ax.plot(windows, grouped.quantile(0.99).reindex(windows) * 1000, label="p99 of ok",
            color="tab:purple")
    ax.set_xlabel(time_label(result))
    ax.set_ylabel("latency of successful requests (ms)")
    errors = ax.twinx()
    error_rate = (finished.outcome != "ok").groupby(bins).mean()
    errors.plot(error_rate.index, error_rate.values * 100, color=FAILED, lw=1, ls="--",
                label="failed %")
    errors.set_ylabel("failed requests (%)", color=FAILED)
    errors.set_ylim(0, 105)
    shade_faults(ax, result, deployments=deployments)
    shade_bursts(ax, result)
    lines = ax.get_legend_handles_labels()
    more = errors.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="best", fontsize=8)
    ax.set_title("Latency of successes, and failures, over time")
    return ax


def queues(result, ax=None, names=None, kind=None):
    """Requests waiting per service and messages waiting per consumer group, over time.

    ``names``: the services and consumer groups to draw (default: those whose queue moved).
    """
    ax = axes(ax)
    samples = result.queues
    if kind is not None:
        samples = samples[samples.kind == kind]
    if names is not None:
        samples = samples[samples.service.isin(names) | samples.group.isin(names)]
    # A legend label, not a key: a group is named by its topic and its name.
    labels = samples.service.where(samples.kind == "service", samples.topic + "/" + samples.group)
    for name, series in samples.groupby(labels, sort=False):
        waiting = series.queued + (series.busy if series.kind.iloc[0] == "group" else 0)
        if names is None and waiting.max() == 0:
            continue  # keep the picture to what moves
        ax.plot(series.time, waiting, label=name, drawstyle="steps-post")
    shade_faults(ax, result)
    shade_bursts(ax, result)
    ax.set_xlabel(time_label(result))
    ax.set_ylabel("waiting: requests queued, or\nmessages not yet acked")
    ax.set_title("Queues of services, backlogs of consumer groups")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return ax
