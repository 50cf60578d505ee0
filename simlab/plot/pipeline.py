"""Figures of a delivery pipeline: changes moving through its stages, and the queue of
stage runs waiting for a CI runner. Times are the delivery side's minutes."""

import numpy as np

from ._common import FAILED, OUTCOME_COLOR, axes

STAGE_COLORS = ("tab:blue", "tab:cyan", "tab:purple", "tab:olive", "tab:pink", "tab:gray")
FATE = {"live": ("o", "tab:green"), "caught": ("x", FAILED),
        "rolled_back": ("s", OUTCOME_COLOR["rolled_back"])}


def pipeline_timeline(result, ax=None, window=None, service=None):
    """One row per change (by commit time): a thin grey line while it waits (for a
    runner, for its batch, for the deploy lane), a coloured bar for each run of a stage
    (per-batch stages drawn on every change of the batch), and its fate at the end: a
    green dot when it went live, a red cross where a stage caught it, a brown square if
    its deployment was rolled back.

    ``window``: ``(start, end)`` in minutes: only the changes committed then (a day of
    a week-long run is readable; a week of changes is a texture).
    """
    ax = axes(ax, size=(9, 4))
    changes, runs = result.changes, result.pipeline_runs
    if service is not None:
        changes, runs = changes[changes.service == service], runs[runs.service == service]
    if window is not None:
        changes = changes[(changes.commit >= window[0]) & (changes.commit < window[1])]
    stages = list(dict.fromkeys(runs.stage))
    colors = {stage: STAGE_COLORS[i % len(STAGE_COLORS)] for i, stage in enumerate(stages)}
    by_change = {key: rows for key, rows in runs[runs.change_id > 0].groupby("change_id")}
    by_batch = {key: rows for key, rows in runs[runs.batch > 0].groupby("batch")}
    end_of_run = result.end_time
    # Gathered first and drawn in one call per kind: one artist per change and stage run
    # made a redraw of a day's changes slow.
    waits, bars, fates = [], [], {outcome: [] for outcome in FATE}
    for row, change in enumerate(changes.itertuples()):
        mine = [by_change.get(change.change_id)]
        if change.batch:
            mine.append(by_batch.get(change.batch))
        finished = change.left if change.left == change.left else end_of_run
        waits.append((row, change.commit, finished))
        for rows in mine:
            if rows is not None:
                bars += [(row, start, end, colors[stage])
                         for start, end, stage in zip(rows.start, rows.end, rows.stage)]
        if change.outcome in FATE:
            fates[change.outcome].append((finished, row))
    if waits:
        rows, starts, ends = zip(*waits)
        ax.hlines(rows, starts, ends, color="0.75", lw=0.8, zorder=1)
    if bars:
        rows, starts, ends, bar_colors = zip(*bars)
        ax.hlines(rows, starts, ends, lw=4, zorder=2, colors=bar_colors)
    for outcome, points in fates.items():
        if points:
            marker, color = FATE[outcome]
            ax.scatter(*zip(*points), marker=marker, color=color, s=18, zorder=3)
    for stage in stages:
        ax.plot([], [], color=colors[stage], lw=4, label=stage)
    for outcome, (marker, color) in FATE.items():
        ax.scatter([], [], marker=marker, color=color, label=outcome.replace("_", " "))
    ax.set(xlabel="time (min)", ylabel="changes, in order of commit",
           title="Changes through the pipeline: stages (bars), waiting (grey), fate")
    ax.set_ylim(len(changes), -1)
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    return ax


def runner_queue(result, ax=None, service=None):
    """How many stage runs wait for a CI runner, and how many run, over time (minutes).
    A pipeline is a queue: when runs arrive faster than the runners finish them, the
    wait grows, and every change's lead time with it.

    Both counts are step functions that change only when a run asks for a runner,
    starts or ends: they are drawn exactly, at those instants (not sampled on a grid,
    which would miss short runs and cost thousands of points)."""
    ax = axes(ax, size=(9, 2.5))
    runs = result.pipeline_runs
    runs = runs[runs.stage != "production"] if service is None else \
        runs[(runs.service == service) & (runs.stage != "production")]
    times = np.unique(np.concatenate([[0.0, result.end_time], runs.requested, runs.start,
                                      runs.end]))
    waiting = _count_between(runs.requested.to_numpy(), runs.start.to_numpy(), times)
    running = _count_between(runs.start.to_numpy(), runs.end.to_numpy(), times)
    ax.fill_between(times, running, step="post", color="tab:blue", alpha=0.35,
                    label="runs on a runner")
    ax.step(times, waiting, where="post", color=FAILED, lw=1.2, label="runs waiting for one")
    ax.set(xlabel="time (min)", ylabel="stage runs", title="The CI runners: a queue")
    # Headroom above the highest count, for the legend to sit clear of the data.
    top = max(running.max(initial=0), waiting.max(initial=0), 1)
    ax.set_ylim(-0.05 * top, 1.45 * top)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    return ax


def _count_between(starts, ends, times):
    """At each of ``times``: how many intervals [start, end) contain it."""
    starts, ends = np.sort(starts), np.sort(ends)
    return np.searchsorted(starts, times, side="right") - np.searchsorted(ends, times,
                                                                           side="right")
