"""Fold BatchNormalization into the conv/dense layer that feeds it.

BN at inference is a per-channel affine map, so it disappears into the
preceding layer's weights and bias *before* weight quantization (docs/format.md §2):
quantizing the folded weights is what the hardware will store.
"""
import numpy as np

from wqrc.errors import WqrcError
from wqrc.ir.graph import Graph


def fold_batchnorm(graph: Graph) -> Graph:
    for bn in [n for n in graph.nodes if n.op == "batchnorm"]:
        prev = graph.producer(bn.inputs[0])
        if (prev is None or prev.op not in ("conv", "dense") or prev.attrs.get("clip")
                or len(graph.consumers(prev.output)) != 1 or graph.output == prev.output):
            raise WqrcError(
                f"node '{bn.name}' (BatchNormalization): can only be folded into a conv/dense layer "
                "that feeds it alone; this one follows "
                f"{'the graph input' if prev is None else repr(prev.name) + ' (' + prev.op + ')'}"
            )
        p = bn.params
        k = p["scale"] / np.sqrt(p["var"] + bn.attrs["epsilon"])
        w = prev.params["weight"].astype(np.float64)
        shape = (-1,) + (1,) * (w.ndim - 1)
        prev.params["weight"] = (w * k.reshape(shape)).astype(np.float32)
        prev.params["bias"] = ((prev.params["bias"] - p["mean"]) * k + p["bias"]).astype(np.float32)
        graph.nodes.remove(bn)
        graph.rename_tensor(bn.output, prev.output)
    return graph
