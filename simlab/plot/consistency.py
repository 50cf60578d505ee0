"""Figures of eventual consistency: lag, backlog per partition, stale reads."""

import numpy as np

from ._common import FAILED, as_dict, axes, shade_bursts, shade_faults, time_label


def lag_distribution(results, ax=None, bins=50):
    """Histogram of consistency lag (ms, log scale): how long writes took to show in views.

    ``results`` is one ``Result`` or a dict ``{label: Result}``. Pending writes (never
    visible by the end of the run) are counted in the legend, not hidden.
    """
    ax = axes(ax)
    results = as_dict(results)
    lags = {label: r.consistency.lag.dropna() * 1000 for label, r in results.items()}
    positive = [lag[lag > 0] for lag in lags.values() if (lag > 0).any()]
    if not positive:
        ax.text(0.5, 0.5, "no read model in this run", ha="center", transform=ax.transAxes)
        return ax
    low = min(p.min() for p in positive)
    high = max(p.max() for p in positive)
    edges = np.geomspace(low, high * 1.01, bins)
    for label, result in results.items():
        pending = int((result.consistency.state == "pending").sum())
        lag = lags[label]
        ax.hist(lag.clip(lower=low), bins=edges, alpha=0.55,
                label=f"{label}: p99 {lag.quantile(0.99):.0f} ms" +
                (f", {pending} pending" if pending else ""))
    ax.set_xscale("log")
    ax.set_xlabel("consistency lag (ms)")
    ax.set_ylabel("writes")
    ax.set_title("How long until a write is visible in the read model")
    ax.legend(fontsize=8)
    return ax


def lag_over_time(result, ax=None, window=1.0):
    """Consistency lag of each write (dots) and its p99 per window (line), by write time."""
    ax = axes(ax)
    consistency = result.consistency
    visible = consistency[consistency.state == "visible"]
    ax.scatter(visible.written, visible.lag, s=3, alpha=0.3, color="tab:blue",
               label="one write")
    p99 = visible.groupby((visible.written // window) * window).lag.quantile(0.99)
    ax.plot(p99.index + window / 2, p99.values, color="tab:purple",
            label=f"p99 per {window:g} s")  # drawn mid-window, among the dots it sums up
    pending = consistency[consistency.state == "pending"]
    if len(pending):  # no lag yet: a tick along the top for each write still pending
        ax.plot(pending.written, np.full(len(pending), 1.0), "|", color=FAILED, ms=10,
                transform=ax.get_xaxis_transform(), label="still pending at the end")
    shade_faults(ax, result)
    shade_bursts(ax, result)
    ax.set_xlabel(time_label(result, "time of the write"))
    ax.set_ylabel(time_label(result, "lag"))
    ax.set_title("Consistency lag over time")
    ax.legend(fontsize=8, loc="upper right")
    return ax


def partitions(result, ax=None, group=None, seconds=False, topic=None):
    """Consumer lag per partition over time, in messages (or in seconds).

    ``group`` is a consumer group's name (default: the group with the largest lag);
    ``topic`` picks one if the group reads several topics.
    """
    ax = axes(ax)
    lag = result.lag
    if lag.empty:
        ax.text(0.5, 0.5, "no consumer group in this run", ha="center", transform=ax.transAxes)
        return ax
    if group is None:
        topic, group = lag.groupby(["topic", "group"]).messages.max().idxmax()
    rows = lag[(lag.group == group) & ((lag.topic == topic) if topic is not None else True)]
    if rows.empty:
        raise ValueError(f"no consumer group {group!r}" +
                         (f" of topic {topic!r}" if topic is not None else "") +
                         f"; groups: {sorted(lag.group.unique())}")
    if rows.topic.nunique() > 1:
        raise ValueError(f"consumer group {group!r} reads topics {sorted(rows.topic.unique())};"
                         " say which with topic=...")
    column = "seconds" if seconds else "messages"
    for partition, series in rows.groupby("partition"):
        ax.plot(series.time, series[column], label=f"partition {partition}",
                drawstyle="steps-post")
    shade_faults(ax, result)
    shade_bursts(ax, result)
    ax.set_xlabel(time_label(result))
    ax.set_ylabel(time_label(result, "lag") if seconds else "lag (messages)")
    ax.set_title(f"Consumer lag of {rows.topic.iloc[0]}/{group}")
    ax.legend(fontsize=8, ncols=2)
    return ax


def stale_reads(results, ax=None, window=1.0):
    """Share of reads that were stale, per time window."""
    ax = axes(ax)
    for label, result in as_dict(results).items():
        reads = result.reads
        if reads.empty:
            continue
        rate = reads.stale.astype(float).groupby((reads.time // window) * window).mean()
        ax.plot(rate.index, rate.values * 100, label=f"{label}: {reads.stale.mean():.0%} stale")
    ax.set_ylim(-3, 103)
    ax.set_xlabel(time_label(next(iter(as_dict(results).values()))))
    ax.set_ylabel("stale reads (%)")
    ax.set_title("Reads that missed a write the source already had")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return ax
