"""Graph -> Graph rewrites, one per file, run in a fixed order by :func:`canonicalize`."""
from wqrc.ir.graph import Graph, infer_shapes
from wqrc.passes.drop_identity import drop_identity
from wqrc.passes.drop_softmax import drop_softmax
from wqrc.passes.fold_batchnorm import fold_batchnorm
from wqrc.passes.fuse_activation import fuse_activation

# Order matters: identities first so BN/ReLU see their real producer, BN before
# activation fusion because BN sits between conv and ReLU.
PIPELINE = (drop_identity, drop_softmax, fold_batchnorm, fuse_activation)


def canonicalize(graph: Graph) -> Graph:
    """Run every pass on a copy, then re-infer shapes; the input graph is untouched."""
    g = graph.copy()
    for p in PIPELINE:
        g = p(g)
    return infer_shapes(g)


__all__ = ["PIPELINE", "canonicalize", "drop_identity", "drop_softmax", "fold_batchnorm",
           "fuse_activation"]
