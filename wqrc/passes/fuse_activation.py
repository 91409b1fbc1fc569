"""Fuse ReLU/Clip into the conv, dense or add that produces their input.

The hardware applies the clamp inside the same requantization step that ends
the layer, so the clamp becomes the layer's ``attrs['clip'] = (lo, hi)``.
A clamp whose producer has other readers stays a standalone node.
"""
from wqrc.ir.graph import Graph, Splicer

FUSABLE = ("conv", "dense", "add")


def _merge(old, new):
    if old is None:
        return new
    lo = max(v for v in (old[0], new[0]) if v is not None) if (old[0] is not None or new[0] is not None) else None
    hi = min(v for v in (old[1], new[1]) if v is not None) if (old[1] is not None or new[1] is not None) else None
    return (lo, hi)


def fuse_activation(graph: Graph) -> Graph:
    sp = Splicer(graph)
    for act in [n for n in graph.nodes if n.op in ("relu", "clip")]:
        prev = sp.producer(act.inputs[0])
        if prev is None or prev.op not in FUSABLE or sp.readers(prev.output) != 1 or sp.is_output(prev.output):
            continue
        clamp = (0.0, None) if act.op == "relu" else (act.attrs.get("min"), act.attrs.get("max"))
        prev.attrs["clip"] = _merge(prev.attrs.get("clip"), clamp)
        sp.bypass(act, prev.output)
    return sp.finish()
