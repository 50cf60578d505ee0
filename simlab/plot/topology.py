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
    """Draw the topology: services (squares), topics (circles), calls solid, events dashed.

    The flow reads left to right from the entry service; topics sit a little lower
    than services, so a long event chain zig-zags instead of overlapping.
    """
    ax = axes(ax, size=(10, 3.5))
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
