"""Graph IR: :class:`Graph` and :class:`Node`, shape inference, and a torch view."""
from wqrc.ir.graph import OPS, WEIGHTED_OPS, Graph, Node, infer_shapes

__all__ = ["OPS", "WEIGHTED_OPS", "Graph", "Node", "infer_shapes"]
