"""torch.nn.Module / TorchScript -> Graph, by way of the ONNX exporter.

Exporting to ONNX in memory and reusing the ONNX frontend means one code
path understands every op, and a torch model converts exactly as its ONNX
export would.
"""
from __future__ import annotations

import io
import os
import warnings

import numpy as np
import onnx
import torch

from wqrc.errors import WqrcError
from wqrc.frontend.onnx import onnx_to_graph
from wqrc.ir.graph import Graph


def _export(module: torch.nn.Module, example: torch.Tensor, what: str) -> onnx.ModelProto:
    buf = io.BytesIO()
    module = module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (example,), buf, dynamo=False, opset_version=17,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        except Exception as exc:
            raise WqrcError(f"{what}: torch could not export it to ONNX: {str(exc).splitlines()[0]}") from None
    return onnx.load_from_string(buf.getvalue())


def from_torch(module: torch.nn.Module, example_input) -> Graph:
    """Convert a torch module, traced with ``example_input`` (an NCHW tensor or array)."""
    example = torch.as_tensor(np.asarray(example_input, dtype=np.float32)) \
        if not isinstance(example_input, torch.Tensor) else example_input.float()
    name = type(module).__name__
    return onnx_to_graph(_export(module, example, name), source=f"torch module {name}")


def load_torchscript(path: str, input_shape: tuple[int, ...]) -> Graph:
    """Load a TorchScript ``.pt`` file; ``input_shape`` is (C, H, W) or (F,)."""
    if not os.path.isfile(path):
        raise WqrcError(f"{path}: no such file")
    try:
        module = torch.jit.load(path, map_location="cpu")
    except Exception as exc:
        raise WqrcError(f"{path}: not a TorchScript file ({str(exc).splitlines()[0]})") from None
    example = torch.zeros((1,) + tuple(input_shape))
    model = _export(module, example, path)
    return onnx_to_graph(model, source=path)
