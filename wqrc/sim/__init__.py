"""The bit-exact NumPy reference simulator."""
from wqrc.sim.simulator import simulate, simulate_float, simulate_outputs

__all__ = ["simulate", "simulate_float", "simulate_outputs"]
