"""Layer-wise Precision Scaling: a greedy search for per-layer bit-widths."""
from wqrc.search.evaluator import PlanEvaluator
from wqrc.search.lps import (SearchResult, Step, best_equal_at_cr, best_equal_within, equal_bitwidth_curve,
                             layerwise_precision_scaling)

__all__ = ["PlanEvaluator", "SearchResult", "Step", "best_equal_at_cr", "best_equal_within", "equal_bitwidth_curve",
           "layerwise_precision_scaling"]
