"""Remove Identity/Dropout nodes: they compute nothing at inference time."""
from wqrc.ir.graph import Graph, Splicer


def drop_identity(graph: Graph) -> Graph:
    sp = Splicer(graph)
    for node in [n for n in graph.nodes if n.op == "identity"]:
        sp.bypass(node, node.inputs[0])
    return sp.finish()
