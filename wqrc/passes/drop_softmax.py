"""Drop a trailing Softmax: it is monotonic, so the integer logits classify alike.

The hardware outputs integer logits (docs/format.md §3); a softmax anywhere but at the
end would change what later layers see and is rejected.
"""
from wqrc.errors import WqrcError
from wqrc.ir.graph import Graph


def drop_softmax(graph: Graph) -> Graph:
    for sm in [n for n in graph.nodes if n.op == "softmax"]:
        if graph.output != sm.output or sm.inputs[0] in graph.extra_outputs:
            raise WqrcError(f"node '{sm.name}' (Softmax): only a trailing softmax is supported")
        graph.nodes.remove(sm)
        graph.output = sm.inputs[0]
        graph.notes.append(f"dropped trailing Softmax '{sm.name}': outputs are integer logits")
    return graph
