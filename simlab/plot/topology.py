"""The topology of a run: services, calls and topics, as a networkx graph and a figure."""

import networkx as nx

from ._common import axes


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
    """Draw the topology: services (boxes), topics (rounded, orange), calls solid, events dashed.

    The flow reads left to right from the entry service; topics sit a little lower
    than services, so a long event chain zig-zags instead of overlapping. Each box is
    sized to its name, and arrows stop at the edge of the boxes they join.
    """
    ax = axes(ax, size=(10, 3.5))
    graph = topology_graph(result)
    pos = {}
    for x, nodes in enumerate(_layers(graph)):
        for i, node in enumerate(nodes):
            drop = 0.6 if graph.nodes[node]["kind"] == "topic" else 0.0
            pos[node] = (x, (len(nodes) - 1) / 2 - i - drop)
    boxes = {}
    for node, (x, y) in pos.items():
        topic = graph.nodes[node]["kind"] == "topic"
        boxes[node] = ax.text(
            x, y, node.replace("-", "-\n") if topic else node, ha="center", va="center",
            fontsize=7, zorder=3,
            bbox=dict(boxstyle="round,pad=0.4" if topic else "square,pad=0.45",
                      fc="#fce5cd" if topic else "#cfe2f3",
                      ec="tab:orange" if topic else "#6d9eeb", lw=0.8))
    for source, target, data in graph.edges(data=True):
        call = data["kind"] == "call"
        ax.annotate("", xy=pos[target], xytext=pos[source], zorder=2,
                    arrowprops=dict(arrowstyle="-|>", mutation_scale=11, shrinkA=1, shrinkB=1,
                                    color="black" if call else "tab:orange",
                                    ls="-" if call else "--", lw=1.0,
                                    patchA=boxes[source].get_bbox_patch(),
                                    patchB=boxes[target].get_bbox_patch()))
    xs = [x for x, _ in pos.values()] or [0]
    ys = [y for _, y in pos.values()] or [0]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    ax.set_title("Topology: calls (solid) and events (dashed)")
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
