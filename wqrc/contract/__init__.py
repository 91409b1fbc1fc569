"""The numeric contract, the floor every other package stands on (docs/format.md).

``arith`` (rounding, requantization, saturation, divisors, accumulator types),
``formats`` (activation formats), ``geometry`` (window lengths and pads) and
``kernels`` (the NumPy integer kernels that define every op's integers). Nothing
here imports anything of wqrc's but ``wqrc.errors``: every executor, backend
and piece of hardware is judged against these.
"""
