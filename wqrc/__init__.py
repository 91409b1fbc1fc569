"""wqrc: weight quantization (DFP, power-of-two) compiled to bit-exact hardware code."""
from wqrc.api import from_torch, load_model, quantize
from wqrc.errors import WqrcError
from wqrc.quant.qmodel import QModel
from wqrc.sim import simulate, simulate_float
from wqrc.train.regularizers import QuantRegularizer

__version__ = "0.1.0"
__all__ = ["QModel", "QuantRegularizer", "WqrcError", "from_torch", "load_model", "quantize", "simulate", "simulate_float"]
