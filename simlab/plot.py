"""Standard figures of a run. Each takes a ``Result`` (never the simulator's insides),
draws on ``ax`` if given (else a new figure) and returns the ``Axes``.

Every time plot shades the run's faults, so cause and effect sit side by side.
"""

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd

_KIND_COLOURS = {"server": "tab:blue", "client": "tab:gray", "producer": "tab:orange",
                 "consumer": "tab:green"}
_FAILED = "tab:red"


def _axes(ax, size=(7, 3.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _as_dict(results):
    return results if isinstance(results, dict) else {f"seed {results.seed}": results}


def shade_faults(ax, result, label=True):
    """Shade each fault's time window on a time axis (and name it once)."""
    for i, fault in enumerate(result.faults.itertuples()):
        end = fault.end if not np.isnan(fault.end) else result.end_time
        ax.axvspan(fault.start, end, color=_FAILED, alpha=0.12, lw=0,
                   label=f"{fault.target} {fault.fault}" if label else None)
    return ax


def latency_percentiles(results, ax=None, percentiles=(50, 95, 99)):
    """Bars of latency percentiles (ms) of successful requests, one group per result.

    ``results`` is one ``Result`` or a dict ``{label: Result}`` to compare designs.
    """
    ax = _axes(ax)
    results = _as_dict(results)
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
    ax = _axes(ax)
    results = _as_dict(results)
    all_ok = [r.requests.latency[r.requests.outcome == "ok"] * 1000 for r in results.values()]
    values = pd.concat(all_ok)
    if values.empty:
        return ax
    edges = np.geomspace(max(values.min(), 1e-3), values.max() * 1.01, bins)
    for label, ok in zip(results, all_ok):
        ax.hist(ok, bins=edges, alpha=0.55, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    ax.legend()
    return ax


def latency_over_time(result, ax=None, window=1.0):
    """p50 and p99 latency (ms) per time window, with the error rate on a second axis."""
    ax = _axes(ax)
    requests = result.requests
    finished = requests[requests.outcome != "in_flight"]
    bins = (finished.start // window) * window
    ok = finished[finished.outcome == "ok"]
    grouped = ok.groupby(bins[ok.index]).latency
    ax.plot(grouped.median() * 1000, label="p50", color="tab:blue")
    ax.plot(grouped.quantile(0.99) * 1000, label="p99", color="tab:purple")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("latency (ms)")
    errors = ax.twinx()
    error_rate = (finished.outcome != "ok").groupby(bins).mean()
    errors.plot(error_rate.index, error_rate.values * 100, color=_FAILED, lw=1, ls="--",
                label="failed %")
    errors.set_ylabel("failed requests (%)", color=_FAILED)
    errors.set_ylim(0, 105)
    shade_faults(ax, result)
    lines = ax.get_legend_handles_labels()
    more = errors.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    ax.set_title("Latency and failures over time")
    return ax


def queues(result, ax=None, names=None, kind=None):
    """Requests waiting per service and messages waiting per consumer group, over time."""
    ax = _axes(ax)
    samples = result.queues
    if kind is not None:
        samples = samples[samples.kind == kind]
    if names is not None:
        samples = samples[samples.name.isin(names)]
    for name, series in samples.groupby("name", sort=False):
        waiting = series.queued + (series.busy if series.kind.iloc[0] == "group" else 0)
        if names is None and waiting.max() == 0:
            continue  # keep the picture to what moves
        ax.plot(series.time, waiting, label=name, drawstyle="steps-post")
    shade_faults(ax, result)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("waiting (queue or backlog)")
    ax.set_title("Queues of services, backlogs of consumer groups")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return ax


def topology_graph(result):
    """A networkx DiGraph of what the run did: services, calls and topics.

    Nodes have ``kind`` = service | topic; edges have ``kind`` = call | publish | consume
    and ``count`` = how many times it happened.
    """
    graph = nx.DiGraph()
    for name in result.services:
        graph.add_node(name, kind="service")
    for (_, topic), _groups in result.subscriptions.items():
        graph.add_node(topic, kind="topic")
    spans = result.spans
    for (service, operation, kind), count in spans.groupby(
            ["service", "operation", "kind"], sort=False).size().items():
        if kind == "client":
            source, target, edge = service, operation.split(".")[0], "call"
        elif kind == "producer":
            source, target, edge = service, operation.removeprefix("publish "), "publish"
        elif kind == "consumer":
            source, target, edge = operation.removeprefix("consume "), service, "consume"
        else:
            continue
        if graph.has_edge(source, target):
            graph[source][target]["count"] += count
        else:
            graph.add_edge(source, target, kind=edge, count=int(count))
    return graph


def topology(result, ax=None):
    """Draw the topology: services (squares), topics (circles), calls solid, events dashed.

    The flow reads left to right from the entry service; topics sit a little lower
    than services, so a long event chain zig-zags instead of overlapping.
    """
    ax = _axes(ax, size=(10, 3.5))
    graph = topology_graph(result)
    pos = {}
    for x, nodes in enumerate(_layers(graph)):
        for i, node in enumerate(nodes):
            drop = 0.6 if graph.nodes[node]["kind"] == "topic" else 0.0
            pos[node] = (x, (len(nodes) - 1) / 2 - i - drop)
    services = [n for n, d in graph.nodes(data=True) if d["kind"] == "service"]
    topics = [n for n, d in graph.nodes(data=True) if d["kind"] == "topic"]
    size = 600
    nx.draw_networkx_nodes(graph, pos, nodelist=services, node_shape="s", node_size=size,
                           node_color="#cfe2f3", ax=ax)
    nx.draw_networkx_nodes(graph, pos, nodelist=topics, node_shape="o", node_size=size,
                           node_color="#fce5cd", ax=ax)
    calls = [(u, v) for u, v, d in graph.edges(data=True) if d["kind"] == "call"]
    events = [(u, v) for u, v, d in graph.edges(data=True) if d["kind"] != "call"]
    nx.draw_networkx_edges(graph, pos, edgelist=calls, ax=ax, node_size=size, arrowsize=12)
    nx.draw_networkx_edges(graph, pos, edgelist=events, ax=ax, node_size=size, style="dashed",
                           edge_color="tab:orange", arrowsize=12)
    labels = {n: n.replace("-", "-\n") for n in graph}
    nx.draw_networkx_labels(graph, pos, labels=labels, font_size=6.5, ax=ax)
    ax.set_title("Topology: calls (solid) and events (dashed)")
    ax.margins(0.08)
    ax.axis("off")
    return ax


def _layers(graph):
    """Nodes in layers by distance from the entry points, so the flow reads left to right."""
    depth = {}
    roots = [n for n in graph if graph.in_degree(n) == 0 and graph.out_degree(n) > 0]
    for root in roots or list(graph)[:1]:
        for node, distance in nx.single_source_shortest_path_length(graph, root).items():
            depth[node] = max(depth.get(node, 0), distance)
    layers = {}
    for node in graph:
        layers.setdefault(depth.get(node, 0), []).append(node)
    return [layers[d] for d in sorted(layers)]


def waterfall(result, trace_id=None, ax=None):
    """Every span of one trace as a bar on a shared time line (default: the slowest trace).

    Indentation shows who called whom; colour shows the span kind; failed spans are red.
    """
    trace_id = trace_id or result.slowest_trace()
    spans = result.spans[result.spans.trace_id == trace_id].sort_values(["start", "span_id"])
    if spans.empty:
        raise ValueError(f"no spans for trace {trace_id!r}; pick one from result.requests.trace_id")
    ax = _axes(ax, size=(8, 0.35 * len(spans) + 1.2))
    depth = _depths(spans)
    origin = spans.start.min()
    end = spans.end.fillna(result.end_time)
    labels = []
    for row, span in enumerate(spans.itertuples()):
        colour = _KIND_COLOURS[span.kind] if span.status == "ok" else _FAILED
        start_ms = (span.start - origin) * 1000
        width = max((end[span.Index] - span.start) * 1000, 0.05)
        ax.barh(row, width, left=start_ms, color=colour, alpha=0.85)
        if span.wait > 0:
            ax.barh(row, span.wait * 1000, left=start_ms, color="white", hatch="///",
                    edgecolor=colour, alpha=0.9)
        labels.append("  " * depth[span.span_id] + f"{span.service}: {span.operation}")
        ax.text(start_ms + width, row, f" {width:.1f} ms" + ("" if span.status == "ok"
                                                             else f" {span.status}"),
                va="center", fontsize=7)
    ax.set_yticks(range(len(spans)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms since the trace began (hatched: waiting for a worker)")
    ax.set_title(f"Trace {trace_id[-8:]}")
    return ax


def _depths(spans):
    parents = dict(zip(spans.span_id, spans.parent_id))
    depth = {}

    def find(span_id):
        if span_id not in depth:
            parent = parents.get(span_id, "")
            depth[span_id] = 0 if parent not in parents else find(parent) + 1
        return depth[span_id]

    for span_id in spans.span_id:
        find(span_id)
    return depth


def overview(result, figsize=(11, 7)):
    """The standard four figures of a run: latency over time, queues, percentiles, topology."""
    fig, axes = plt.subplots(2, 2, figsize=figsize, layout="constrained")
    latency_over_time(result, ax=axes[0, 0])
    queues(result, ax=axes[0, 1])
    latency_percentiles(result, ax=axes[1, 0])
    topology(result, ax=axes[1, 1])
    return axes
