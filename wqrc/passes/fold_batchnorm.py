"""Fold BatchNormalization into the conv/dense layer that feeds it.

BN at inference is a per-channel affine map, so it disappears into the
preceding layer's weights and bias *before* weight quantization (docs/format.md §2):
quantizing the folded weights is what the hardware will store. A BN that cannot
be folded (after an add, a pool, or at the input) becomes what it is, a
per-channel scale and shift: a depthwise 1x1 convolution, with weights and bias
quantized like any layer's, so every executor and backend runs it unchanged.
The frontend writes every per-channel affine map by constants (Mul/Div/Add/Sub by
a constant, PRelu's slopes) as such a BN, so this pass is their one home too.
"""
import numpy as np

from wqrc.errors import WqrcError
from wqrc.ir.graph import Graph, Node, Splicer


def fold_batchnorm(graph: Graph) -> Graph:
    sp = Splicer(graph)
    for bn in [n for n in graph.nodes if n.op == "batchnorm"]:
        prev = sp.producer(bn.inputs[0])
        p = bn.params
        k = p["scale"] / np.sqrt(p["var"] + bn.attrs["epsilon"])
        if (prev is None or prev.op not in ("conv", "dense") or prev.attrs.get("clip")
                or sp.readers(prev.output) != 1 or sp.is_output(prev.output)):
            sp.replace(bn, _as_depthwise(graph, bn, k))
            continue
        pin = graph.weight_formats.get(prev.name)
        if pin is not None and not np.all(k == 1.0):  # a pure shift moves the bias only
            # the model's quantized weights, scaled per channel, leave their grid: the layer keeps its
            # quantizer's scheme and bits, the exponents are chosen again (wqrc.quant.regrid)
            per_channel = pin.get("per_channel", len(set(pin.get("exponents", [0]))) > 1)
            graph.weight_formats[prev.name] = {"scheme": pin["scheme"], "bits": int(pin.get("widened_from", pin["bits"])),
                                               "regrid": True, "per_channel": per_channel, "folded": bn.name}
            graph.notes.append(f"layer '{prev.name}': BatchNorm '{bn.name}' folded into the weights its quantizer "
                               f"made, so they are re-gridded (its {pin['scheme']}-{pin['bits']} format chosen again "
                               f"for the folded values; the report compares the outputs with the model's own)")
        w = prev.params["weight"].astype(np.float64)
        shape = (-1,) + (1,) * (w.ndim - 1)
        prev.params["weight"] = (w * k.reshape(shape)).astype(np.float32)
        prev.params["bias"] = ((prev.params["bias"] - p["mean"]) * k + p["bias"]).astype(np.float32)
        sp.bypass(bn, prev.output)
    return sp.finish()


def _as_depthwise(graph: Graph, bn: Node, k: np.ndarray) -> list[Node]:
    """y = k * (x - mean) + beta, per channel: a depthwise 1x1 conv of a (C, H, W) map; a (F,) tensor
    is viewed as (F, 1, 1) around it (reshape aliases: no data moves). Returns the nodes that take
    ``bn``'s place."""
    shape = graph.shapes.get(bn.inputs[0])
    ins, out, around = list(bn.inputs), bn.output, None
    if shape is not None and len(shape) == 1:
        f = shape[0]
        into, out = bn.output + "__map", bn.output + "__map_out"
        around = (Node("reshape", bn.name + "__to_map", ins, into, dict(shape=(f, 1, 1))),
                  Node("reshape", bn.name + "__to_features", [out], bn.output, dict(shape=(f,))))
        ins = [into]
        graph.shapes[into] = graph.shapes[out] = (f, 1, 1)
        shape = (f, 1, 1)
    if shape is not None and len(shape) != 3:
        raise WqrcError(f"node '{bn.name}' (BatchNormalization, or a per-channel constant scale or offset): "
                        f"cannot be folded into a conv/dense layer "
                        f"(none feeds it alone), and as a scale-and-shift layer it needs a (C, H, W) input, "
                        f"got {tuple(shape)}")
    c = len(k)
    p = bn.params
    conv = Node("conv", bn.name, ins, out,
                dict(strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=c),
                dict(weight=k.reshape(c, 1, 1, 1).astype(np.float32),
                     bias=(p["bias"] - p["mean"] * k).astype(np.float32)))
    return [around[0], conv, around[1]] if around else [conv]
