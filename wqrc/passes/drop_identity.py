"""Remove Identity/Dropout nodes: they compute nothing at inference time."""
from wqrc.ir.graph import Graph


def drop_identity(graph: Graph) -> Graph:
    for node in [n for n in graph.nodes if n.op == "identity"]:
        graph.nodes.remove(node)
        graph.rename_tensor(node.output, node.inputs[0])
    return graph
