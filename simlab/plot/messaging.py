"""Figures of async error handling: what went wrong per design, deliveries, crashes, sagas.

* ``anomalies(results)`` — lost, duplicated, dead-lettered and compensated, per design
  (``simlab.metrics.anomaly_counts``: the ledger of lesson 05).
* ``anomalies_over_time(result)`` — the same counts as they grow during a run.
* ``deliveries(result)`` — each delivery attempt of a message on a time line: backoff,
  dead letters, replays.
* ``crash_window(result)`` — the writes around one crash, each a line from the write to
  the moment a read model reflected it: lost events never get there.
* ``saga_trace(result)`` — a saga's waterfall with its window of inconsistency shaded.
* ``inconsistency(result)`` — how long sagas left the system inconsistent, per outcome.
"""

import numpy as np
import pandas as pd

from ..metrics import anomaly_counts, message_fates
from ._common import FAILED, as_dict, axes, shade_faults, time_label
from .canvas import figure
from .traces import waterfall

ANOMALIES = {"lost": FAILED, "duplicates": "tab:orange", "dead_lettered": "tab:purple",
             "compensated": "tab:blue"}


def anomalies(results, axes_row=None, kinds=("lost", "duplicates", "dead_lettered",
                                              "compensated")):
    """One panel per kind of anomaly, one bar per design, all panels on one scale.

    One scale, so that a bar's length means the same in every panel: 8 duplicates look
    small beside 54 lost events, as they are. Each bar is labelled with its count.

    Args:
        results: a ``Result`` or ``{label: Result}``; or a DataFrame of counts with one
            row per design and one column per kind (as built from ``anomaly_counts``).
        axes_row: a sequence of Axes, one per kind (default: a new row of panels).
        kinds: which columns to draw.

    Returns:
        The array of Axes.
    """
    if isinstance(results, pd.DataFrame):
        table = results
    else:
        table = pd.DataFrame({label: anomaly_counts(result)
                              for label, result in as_dict(results).items()}).T
    if axes_row is None:
        size = (2.6 * len(kinds) + 1.4, 0.32 * len(table) + 1.6)
        axes_row = figure(figsize=size).subplots(1, len(kinds), sharey=True)
    axes_row = np.atleast_1d(axes_row)
    rows = np.arange(len(table))
    top = max(float(table[list(kinds)].to_numpy().max(initial=0)), 1.0)
    for ax, kind in zip(axes_row, kinds):
        values = table[kind].astype(float).to_numpy()
        ax.barh(rows, values, color=ANOMALIES.get(kind, "tab:gray"), alpha=0.85)
        for row, value in zip(rows, values):
            ax.text(value + top * 0.02, row, f"{value:.0f}", va="center", fontsize=8,
                    color="black" if value else "grey")
        ax.set_xlim(0, top * 1.25)
        ax.set_title(kind.replace("_", "-"), fontsize=10)
        ax.set_xlabel("messages" if kind != "compensated" else "sagas", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes_row[0].set_yticks(rows, list(table.index))
    axes_row[0].invert_yaxis()
    return axes_row


_MARKERS = {"failed": ("o", "tab:gray", "delivery that failed", 18),
            "acked": ("o", "tab:green", "delivery acked", 18),
            "ignored": ("o", "none", "duplicate ignored (idempotent)", 18),
            "dead_letter": ("X", FAILED, "dead-lettered", 30),
            "replay": ("D", "none", "replayed from the DLQ", 30)}


def _delivery_fates(rows):
    """Each delivery of ``rows`` (message events), labelled by what settled it next."""
    settling = rows[rows.event.isin(["deliver", "ack", "redeliver", "dead_letter"])]
    after = settling.groupby("message_id").event.shift(-1)
    before = settling.groupby("message_id").event.shift(1)
    delivered = settling[settling.event == "deliver"]
    fate = np.where(after[delivered.index] == "ack", "acked", "failed")
    # An idempotent consumer acks a duplicate without handling it: an ack with no delivery.
    ignored = settling[(settling.event == "ack") & (before != "deliver")]
    return {"failed": delivered[fate == "failed"], "acked": delivered[fate == "acked"],
            "ignored": ignored}


def deliveries(result, message_ids=None, ax=None, limit=20, relative=False):
    """Each delivery attempt of some messages on a time line, one row per message.

    A grey dot is a delivery that failed (the message is delivered again after the
    backoff, or dead-lettered), a green dot one that was acked, a red cross a dead
    letter, a blue diamond a replay from the dead-letter topic.

    Args:
        message_ids: which messages (default: the first ``limit`` that were delivered
            more than once, dead-lettered or replayed).
        relative: x = seconds since each message was published (the backoff schedules
            line up), instead of the time of the run.
    """
    messages = result.messages
    if message_ids is None:
        counts = messages[messages.event == "deliver"].message_id.value_counts()
        troubled = set(counts.index[counts > 1]) | set(
            messages.message_id[messages.event.isin(["dead_letter", "replay"])])
        message_ids = sorted(troubled)[:limit]
    message_ids = list(message_ids)
    ax = axes(ax, size=(8, 0.22 * len(message_ids) + 1.4))
    if not message_ids:
        ax.text(0.5, 0.5, "no message was delivered more than once", ha="center",
                va="center", transform=ax.transAxes)
        ax.axis("off")
        return ax
    rows = messages[messages.message_id.isin(message_ids)]
    published = rows[rows.event == "publish"].set_index("message_id").time
    position = {mid: i for i, mid in enumerate(message_ids)}
    shift = rows.message_id.map(published) if relative else 0.0
    rows = rows.assign(x=rows.time - shift, y=rows.message_id.map(position))
    spans = rows.groupby("message_id").x.agg(["min", "max"])
    ax.hlines([position[m] for m in spans.index], spans["min"], spans["max"], color="lightgrey",
              lw=1, zorder=1)
    shown = _delivery_fates(rows)
    shown["dead_letter"] = rows[rows.event == "dead_letter"]
    shown["replay"] = rows[rows.event == "replay"]
    for kind, points in shown.items():
        marker, face, label, size = _MARKERS[kind]
        if len(points):
            edge = {"ignored": "tab:green", "replay": "tab:blue"}.get(kind, face)
            ax.scatter(points.x, points.y, marker=marker, facecolors=face, edgecolors=edge,
                       s=size, zorder=3 if kind != "replay" else 4, label=label)
    if not relative:
        _shade_faults_once(ax, result)
    ax.set_yticks(range(len(message_ids)), [f"message {m}" for m in message_ids], fontsize=7)
    ax.set_ylim(len(message_ids) - 0.5, -0.5)
    ax.set_xlabel(time_label(result, "since the message was published") if relative
                  else time_label(result))
    ax.set_title("Delivery attempts, one row per message")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


def anomalies_over_time(result, ax=None):
    """Messages lost, duplicated and dead-lettered so far, by the time they were published.

    One step line per kind (``simlab.metrics.message_fates``, over all consumer groups), with the faults shaded: each crash shows as a step.
    """
    ax = axes(ax)
    fates = message_fates(result)
    end = result.end_time
    for kind, flag in (("lost", "lost"), ("duplicates", "duplicate"),
                       ("dead_lettered", "dead_lettered")):
        when = np.sort(fates.published[fates[flag]].to_numpy())
        ax.step(np.concatenate([[0.0], when, [end]]),
                np.concatenate([[0], np.arange(1, len(when) + 1), [len(when)]]),
                where="post", color=ANOMALIES[kind], lw=1.8,
                label=f"{kind.replace('_', '-')}: {len(when)}")
    _shade_faults_once(ax, result)
    ax.set_xlim(0, end)
    ax.set_xlabel(time_label(result, "time the message was published"))
    ax.set_ylabel("messages so far")
    ax.set_title("What went wrong, over time")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def crash_window(result, crash=0, margin=0.4, ax=None, view=None):
    """The writes around one crash: a line from each write to when a read model had it.

    A lost event (written, never published) is a red cross with a dashed line running
    off to the right: the read model never hears of it.

    Args:
        crash: which fault of ``result.faults`` (its row number).
        margin: seconds shown before and after the crash.
        view: the read model to follow (default: the first in ``result.consistency``).
    """
    ax = axes(ax, size=(7, 3.5))
    fault = result.faults.iloc[crash]
    end = fault.end if not np.isnan(fault.end) else result.end_time
    start, stop = fault.start - margin, end + margin
    consistency = result.consistency
    if view is not None:
        consistency = consistency[consistency.view == view]
    rows = consistency[(consistency.written >= start) & (consistency.written <= stop)]
    rows = rows.sort_values("written")
    ax.axvspan(fault.start, end, color=FAILED, alpha=0.12, lw=0,
               label=f"{fault.target} {fault.fault}")
    y = np.arange(len(rows))
    seen = rows.state == "visible"
    ax.hlines(y[seen], rows.written[seen], rows.visible[seen], color="tab:blue", lw=1.5,
              label="written → visible downstream")
    ax.hlines(y[~seen], rows.written[~seen], stop, color=FAILED, lw=1, ls="--")
    ax.scatter(rows.written[seen], y[seen], s=10, color="tab:blue", zorder=3)
    if (~seen).any():
        ax.scatter(rows.written[~seen], y[~seen], s=40, marker="X", color=FAILED, zorder=3,
                   label="written, never visible: lost")
    ax.set_xlim(start, stop)
    ax.set_ylim(len(rows) - 0.5 if len(rows) else 0.5, -0.5)
    ax.set_yticks([])
    ax.set_ylabel("orders, in order of writing")
    ax.set_xlabel(time_label(result))
    ax.set_title(f"Writes around the crash at t = {fault.start:.1f} s")
    ax.legend(fontsize=8, loc="lower left")
    return ax


def _shade_faults_once(ax, result):
    """Shade every fault, with one legend entry per kind and target (not one per fault)."""
    shade_faults(ax, result, label=False)
    for fault, target in dict.fromkeys(zip(result.faults.fault, result.faults.target)):
        ax.axvspan(np.nan, np.nan, color=FAILED, alpha=0.12, lw=0, label=f"{target} {fault}")


def saga_trace(result, trace_id=None, ax=None):
    """A saga's waterfall, with its window of inconsistency shaded.

    Default: the first saga that failed at its last step, so every compensation runs.
    """
    sagas = result.sagas
    if sagas.empty:
        raise ValueError("no saga in this run")
    if trace_id is None:
        compensated = sagas[sagas.outcome == "compensated"]
        pick = compensated[compensated.steps_done == compensated.steps_done.max()] \
            if len(compensated) else sagas
        trace_id = pick.trace_id.iloc[0]
    saga = sagas[sagas.trace_id == trace_id]
    if saga.empty:
        raise ValueError(f"trace {trace_id!r} ran no saga; pick one from result.sagas.trace_id")
    saga = saga.iloc[0]
    ax = waterfall(result, trace_id, ax=ax)
    origin = result.spans.start[result.spans.trace_id == trace_id].min()
    if saga.inconsistent_for > 0:
        end = saga.end if not np.isnan(saga.end) else result.end_time
        window = ax.axvspan((end - saga.inconsistent_for - origin) * 1000,
                            (end - origin) * 1000, color="tab:orange", alpha=0.15, lw=0,
                            zorder=0, label=f"inconsistent for {saga.inconsistent_for * 1000:.0f} ms")
        kinds = ax.get_legend().legend_handles if ax.get_legend() else []   # the waterfall's
        ax.legend(handles=[*kinds, window], fontsize=7, loc="lower left", framealpha=0.9)
    failed = f", {saga.failed_step} failed" if saga.failed_step else ""
    ax.set_title(f"Saga {saga.saga_id} (trace {trace_id[-8:]}): {saga.outcome}{failed}")
    return ax


def inconsistency(result, ax=None, bins=40):
    """Histogram of each saga's window of inconsistency (ms), per outcome and failed step."""
    ax = axes(ax)
    sagas = result.sagas[result.sagas.inconsistent_for > 0]
    if sagas.empty:
        ax.text(0.5, 0.5, "no saga did any step", ha="center", transform=ax.transAxes)
        return ax
    window = sagas.inconsistent_for * 1000
    edges = np.linspace(0, window.max() * 1.01, bins)
    label = sagas.outcome + np.where(sagas.failed_step != "", " at " + sagas.failed_step, "")
    for name, values in window.groupby(label, sort=True):
        ax.hist(values, bins=edges, histtype="step", lw=1.6,
                weights=np.full(len(values), 100 / len(values)),
                label=f"{name}: {len(values)} sagas, mean {values.mean():.0f} ms")
    ax.set_xlabel("inconsistent for (ms): first step done → saga finished")
    ax.set_ylabel("share of the sagas (%)")
    ax.set_title("How long each saga left the system half done")
    ax.legend(fontsize=8)
    return ax
