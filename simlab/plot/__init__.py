"""Standard figures of a run. Each takes a ``Result`` (never the simulator's insides),
draws on ``ax`` if given (else a new figure) and returns the ``Axes``.

Figures are made with ``figure()``, never with pyplot: safe on any thread, and shown
when the notebook cell that made them ends (see ``simlab.plot.canvas``). In a script,
save them: ``sl.plot.queues(result).figure.savefig("queues.png")``.

Every time plot shades the run's faults (red) and bursts of load (orange), so cause and
effect sit side by side; ``latency_over_time`` and ``canary`` mark deployments too.
"""

from ._common import shade_bursts, shade_faults
from .canvas import drawing_off_screen, figure, png_bytes
from .delivery import canary, mark_deployments
from .consistency import lag_distribution, lag_over_time, partitions, stale_reads
from .dependencies import dependency_graph, red
from .messaging import (
    anomalies,
    anomalies_over_time,
    crash_window,
    deliveries,
    inconsistency,
    saga_trace,
)
from .pipeline import pipeline_timeline, runner_queue
from .requests import latency_distribution, latency_over_time, latency_percentiles, queues
from .resilience import breaker_timeline, sent_per_call
from .topology import topology, topology_graph
from .traces import waterfall

__all__ = ["figure", "png_bytes", "drawing_off_screen", "latency_percentiles", "latency_distribution", "latency_over_time", "queues",
           "topology", "topology_graph", "waterfall", "dependency_graph", "red", "lag_distribution", "lag_over_time",
           "partitions", "stale_reads", "breaker_timeline", "sent_per_call",
           "anomalies", "anomalies_over_time", "deliveries", "crash_window",
           "saga_trace", "inconsistency", "shade_faults", "shade_bursts", "overview",
           "canary", "mark_deployments", "pipeline_timeline", "runner_queue"]


def overview(result, figsize=(11, 7), title=None):
    """The standard four figures of a run: latency over time, queues, percentiles, topology.

    ``title`` goes above the four panels: name the scenario and the fault, e.g.
    ``"shop (sync), payments crashes at t = 20 s for 10 s"``. Returns the 2 × 2 Axes.
    """
    fig = figure(figsize=figsize)
    axes = fig.subplots(2, 2)
    latency_over_time(result, ax=axes[0, 0])
    queues(result, ax=axes[0, 1])
    latency_percentiles(result, ax=axes[1, 0])
    topology(result, ax=axes[1, 1])
    if title:
        fig.suptitle(title, fontsize=12)
    return axes
