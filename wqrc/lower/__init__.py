"""Lower once, render three times: a QModel's nodes as typed kernel calls (calls.py), made by one
table of lowerings keyed by kernel family (lower.py), which the C, HLS and RTL backends render."""
from wqrc.lower.calls import (AddCall, AliasCall, Call, ClampedCall, ConvCall, ConvGeometry, CopyCall, CopyPart, LutCall,
                              MulCall, PadCall, PoolCall, PoolGeometry, UpsampleCall, Window)
from wqrc.lower.lower import CALLS, LOWER, conv_geometry, lower, lower_node

__all__ = ["CALLS", "LOWER", "AddCall", "AliasCall", "Call", "ClampedCall", "ConvCall", "ConvGeometry", "CopyCall", "CopyPart", "LutCall",
           "MulCall", "PadCall", "PoolCall", "PoolGeometry", "UpsampleCall", "Window", "conv_geometry", "lower",
           "lower_node"]
