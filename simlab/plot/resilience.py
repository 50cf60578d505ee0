"""Figures of resilience policies: circuit breaker states, and the load retries add."""

import numpy as np
import pandas as pd

from ..metrics import sent_per_call_over_time
from ._common import as_dict, axes, shade_faults, time_label

BREAKER_COLOURS = {"closed": "tab:green", "half_open": "tab:orange", "open": "tab:red"}
# Lines that coincide stay visible: a wide pale one underneath, narrower dashed ones on top.
_STYLES = [dict(lw=4, alpha=0.45), dict(lw=1.8, ls="--"), dict(lw=1.4, ls=(0, (1, 1.5))),
           dict(lw=1.2, ls="-.")]


def breaker_timeline(result, ax=None):
    """Each circuit breaker's state over time as coloured bands, faults shaded.

    One row per breaker (caller → target): green while closed (calls pass), red while
    open (calls are rejected at once), orange while half-open (a trial call is under
    way). A half-open spell is often a few milliseconds long, so each one is also
    marked with a small orange tick above its row.
    """
    ax = axes(ax, size=(7, 1.6))
    breakers = result.breakers
    shade_faults(ax, result)
    rows = list(dict.fromkeys(zip(breakers.caller, breakers.target)))
    for row, (caller, target) in enumerate(rows):
        changes = breakers[(breakers.caller == caller) & (breakers.target == target)]
        ends = list(changes.time.iloc[1:]) + [result.end_time]
        for state, colour in BREAKER_COLOURS.items():
            spells = [(start, end - start) for start, end, now
                      in zip(changes.time, ends, changes.state) if now == state]
            ax.broken_barh(spells, (row - 0.35, 0.7), color=colour,
                           label=state.replace("_", "-") if row == 0 else None)
        probes = changes.time[changes.state == "half_open"]
        ax.plot(probes, np.full(len(probes), row + 0.45), "v", color="tab:orange", ms=4)
    if not rows:
        ax.text(0.5, 0.5, "no circuit breaker in this run", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_yticks(range(len(rows)), [f"{caller} → {target}" for caller, target in rows])
    ax.set_ylim(-0.6, max(len(rows), 1) - 0.4)
    ax.set_xlim(0, result.end_time)
    ax.set_xlabel(time_label(result))
    ax.set_title("Circuit breaker state")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return ax


def sent_per_call(results, target, ax=None, window=1.0, caller=None):
    """Requests that reached ``target`` per call made to it, per time window.

    This is the *load multiplier* of retries (``simlab.metrics.sent_per_call_over_time``):
    1 when every call needs one attempt, up to ``Retry.attempts`` when every attempt
    fails, below 1 when a circuit breaker or a bulkhead turns calls away before they
    leave the caller. A call belongs to the window in which its first attempt started.

    ``results`` is one ``Result`` or a dict ``{label: Result}`` (each drawn in its own
    line style, so that lines that coincide stay visible); ``caller`` limits the count
    to calls made by that service.
    """
    ax = axes(ax)
    single = not isinstance(results, dict)
    results = as_dict(results)
    for (label, result), style in zip(results.items(), _STYLES * len(results)):
        per_window = sent_per_call_over_time(result, target, caller, window)
        ax.plot(*_steps(per_window, window), label="requests per call" if single else label,
                **style)
    shade_faults(ax, next(iter(results.values())))
    ax.axhline(1, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(time_label(next(iter(results.values()))))
    ax.set_ylabel(f"requests sent to {target}\nper call")
    ax.set_title(f"Load multiplier: requests sent per call to {target}")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return ax


def _steps(series, window):
    """x and y of a step line through values per window (indexed by the window's start),
    each drawn across its window; a window without a value breaks the line rather than
    bridging the gap."""
    if len(series):
        numbers = np.rint(series.index.to_numpy(dtype=float) / window).astype(int)
        series = pd.Series(series.to_numpy(), index=numbers).reindex(range(numbers.max() + 1))
    x = np.repeat(series.index.to_numpy(dtype=float) * window, 2)
    x[1::2] += window
    return x, np.repeat(series.to_numpy(dtype=float), 2)
