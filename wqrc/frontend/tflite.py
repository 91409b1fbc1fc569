"""TFLite -> Graph: the int8 ``.tflite`` models MCU users hold, read as float models.

A TFLite flatbuffer (parsed with the ``tflite`` package, the schema's generated reader) is
rewritten as the float ONNX graph it computes, and that graph goes through the ONNX importer
(wqrc/frontend/onnx.py), so one importer knows every op's limits. Weights are dequantized
(``scale * (q - zero_point)``, per channel where the model quantized per channel; int32 biases
at their scale) and then quantized again onto wqrc's DFP/Po2 formats like any float model's;
activation zero points and float scales do not carry over (wqrc's formats are symmetric powers
of two): calibration chooses them. Layout: TFLite is NHWC; the graph takes NHWC samples
(input_layout ``nhwc``) and computes in NCHW. The difference from LiteRT's own integer
interpreter is measured by tests/test_tflite.py and reported by ``wqrc compile``'s health check
against float.

Supported builtin ops: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D,
MAX_POOL_2D, MEAN over H and W, ADD, CONCATENATION along channels, RESHAPE (a flatten before
FULLY_CONNECTED), SOFTMAX at the end, QUANTIZE/DEQUANTIZE (identities of the float graph), with
fused RELU, RELU6 and RELU_N1_TO_1. Anything else is refused naming the operator.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from wqrc.errors import WqrcError

_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}
_ACT = {0: None, 1: (0.0, None), 2: (-1.0, 1.0), 3: (0.0, 6.0)}   # fused activation -> clamp


def load_tflite(path: str):
    """The canonical-graph input of wqrc for a ``.tflite`` file (see the module docstring)."""
    from wqrc.frontend.onnx import onnx_to_graph

    try:
        import tflite
    except ImportError:
        raise WqrcError(f"{path}: reading .tflite models needs the tflite package (pip install tflite)") from None
    try:
        with open(path, "rb") as fh:
            buf = fh.read()
    except OSError as exc:
        raise WqrcError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        if buf[4:8] != b"TFL3":
            raise ValueError("no TFL3 identifier")
        model = tflite.Model.GetRootAsModel(buf, 0)
        reader = _Reader(model, path, tflite)
        onnx_model = reader.to_onnx()
    except WqrcError:
        raise
    except Exception as exc:   # a damaged flatbuffer: the reader indexes past its end
        raise WqrcError(f"{path}: not a readable TFLite model ({type(exc).__name__}: {exc})") from None
    graph = onnx_to_graph(onnx_model, source=path)
    if reader.per_channel:   # re-gridded as the model held them: an exponent per channel by default
        graph.weight_granularity = "channel"
    return graph


class _Reader:
    def __init__(self, model, path: str, tflite):
        self.m, self.path, self.tfl = model, path, tflite
        if model.SubgraphsLength() != 1:
            raise WqrcError(f"{path}: {model.SubgraphsLength()} subgraphs; wqrc reads models of one")
        self.g = model.Subgraphs(0)
        self.ops = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.nodes, self.inits, self.k = [], [], 0
        self.per_channel = False   # some weights carry a scale per channel

    # -- tensors --------------------------------------------------------------------------
    def name(self, i: int) -> str:
        t = self.g.Tensors(i)
        return (t.Name().decode(errors="replace") if t.Name() else "") or f"t{i}"

    def shape(self, i: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.g.Tensors(i).ShapeAsNumpy()) if self.g.Tensors(i).ShapeLength() else ()

    def const(self, i: int):
        """A constant tensor's float values (dequantized), or None for a computed tensor."""
        t = self.g.Tensors(i)
        b = self.m.Buffers(t.Buffer())
        if b is None or b.DataLength() == 0:
            return None
        dtype = _TYPES.get(t.Type())
        if dtype is None:
            raise WqrcError(f"{self.path}: tensor '{self.name(i)}' has TFLite type {t.Type()}, which wqrc does not read")
        v = np.frombuffer(b.DataAsNumpy().tobytes(), dtype=dtype).reshape(self.shape(i)).astype(np.float64)
        q = t.Quantization()
        if q is not None and q.ScaleLength() and dtype is not np.float32:
            scale, zp = q.ScaleAsNumpy().astype(np.float64), np.zeros(q.ScaleLength())
            if q.ZeroPointLength():
                zp = q.ZeroPointAsNumpy().astype(np.float64)
            axis = q.QuantizedDimension() if scale.size > 1 else 0
            self.per_channel |= scale.size > 1
            view = [1] * v.ndim
            if v.ndim:
                view[axis] = -1
            v = (v - zp.reshape(view if scale.size > 1 else [])) * scale.reshape(view if scale.size > 1 else [])
        return v

    def fresh(self, base: str) -> str:
        self.k += 1
        return f"{base}__{self.k}"

    def init(self, value: np.ndarray, base: str, dtype=np.float32) -> str:
        n = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), n))
        return n

    def node(self, op: str, ins: list[str], out: str, name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, ins, [out], name=name, **attrs))
        return out

    # -- the graph ------------------------------------------------------------------------
    def to_onnx(self) -> onnx.ModelProto:
        g = self.g
        if g.InputsLength() != 1:
            raise WqrcError(f"{self.path}: {g.InputsLength()} inputs; wqrc reads models of one")
        i_in = int(g.Inputs(0))
        shape = self.shape(i_in)
        x = self.name(i_in)
        self.value = {i_in: x}
        if len(shape) == 4:    # NHWC samples; the graph computes in NCHW
            self.value[i_in] = self.node("Transpose", [x], self.fresh("nchw"), "input_nchw", perm=[0, 3, 1, 2])
        for k in range(g.OperatorsLength()):
            self.operator(g.Operators(k), k)
        outs = [self.value[int(g.Outputs(j))] for j in range(g.OutputsLength())]
        graph = helper.make_graph(
            self.nodes, "tflite", [helper.make_tensor_value_info(x, TensorProto.FLOAT, [None, *shape[1:]])],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    def operator(self, op, k: int) -> None:
        code = self.m.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        kind = self.ops.get(builtin, str(builtin))
        ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        out = int(op.Outputs(0))
        name = f"{kind.lower()}_{k}"
        handler = getattr(self, "op_" + kind, None)
        if handler is None:
            raise WqrcError(f"{self.path}: operator {k} ({kind}) is not supported; the TFLite ops wqrc reads are "
                            f"listed in docs/onnx_ops.md")
        self.value[out] = handler(op, ins, name)

    def act(self, i: int) -> str:
        """The ONNX name of computed tensor ``i``."""
        if i < 0 or i not in self.value:
            raise WqrcError(f"{self.path}: tensor {i} is read before it is computed, or is not an activation")
        return self.value[i]

    def fused(self, y: str, code: int, name: str) -> str:
        if code not in _ACT:
            raise WqrcError(f"{self.path}: operator '{name}': fused activation {code} is not supported")
        clamp = _ACT[code]
        if clamp is None:
            return y
        if clamp == (0.0, None):
            return self.node("Relu", [y], self.fresh(name + "_relu"), name + "_relu")
        lo, hi = (self.init(np.float32(v), name + "_bound") for v in clamp)
        return self.node("Clip", [y, lo, hi], self.fresh(name + "_clip"), name + "_clip")

    def _options(self, op, cls):
        table = op.BuiltinOptions()
        if table is None:
            return None
        o = cls()
        o.Init(table.Bytes, table.Pos)
        return o

    def _pads(self, padding: int, in_hw, k_hw, s_hw, d_hw) -> list[int]:
        if padding == 1:   # VALID
            return [0, 0, 0, 0]
        pads = []
        for n, k, s, d in zip(in_hw, k_hw, s_hw, d_hw):
            out = -(-n // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
            pads.append((total // 2, total - total // 2))
        return [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]

    def _bias(self, ins, n_out: int, name: str):
        b = self.const(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
        return self.init(np.zeros(n_out) if b is None else b.reshape(-1), name + "_b")

    def op_CONV_2D(self, op, ins, name, depthwise=False):
        o = self._options(op, self.tfl.DepthwiseConv2DOptions if depthwise else self.tfl.Conv2DOptions)
        w = self.const(ins[1])
        if w is None:
            raise WqrcError(f"{self.path}: operator '{name}': its filter is computed; wqrc needs constant weights")
        _, h, wd, c = self.shape(ins[0])
        if depthwise:   # [1, kh, kw, C * m] -> [C * m, 1, kh, kw], one group per input channel
            wt = w[0].transpose(2, 0, 1)[:, None]
            group = c
        else:           # [O, kh, kw, I] -> [O, I, kh, kw]
            wt = w.transpose(0, 3, 1, 2)
            group = c // wt.shape[1]
        s, d = (o.StrideH(), o.StrideW()), (o.DilationHFactor() or 1, o.DilationWFactor() or 1)
        pads = self._pads(o.Padding(), (h, wd), wt.shape[2:], s, d)
        y = self.node("Conv", [self.act(ins[0]), self.init(wt, name + "_w"), self._bias(ins, wt.shape[0], name)],
                      self.fresh(name), name, strides=list(s), dilations=list(d), pads=pads, group=group)
        return self.fused(y, o.FusedActivationFunction(), name)

    def op_DEPTHWISE_CONV_2D(self, op, ins, name):
        return self.op_CONV_2D(op, ins, name, depthwise=True)

    def op_FULLY_CONNECTED(self, op, ins, name):
        o = self._options(op, self.tfl.FullyConnectedOptions)
        w = self.const(ins[1])
        if w is None:
            raise WqrcError(f"{self.path}: operator '{name}': its weights are computed; wqrc needs constant weights")
        x = self.act(ins[0])
        y = self.node("Gemm", [x, self.init(w, name + "_w"), self._bias(ins, w.shape[0], name)], self.fresh(name),
                      name, transB=1)
        return self.fused(y, o.FusedActivationFunction() if o else 0, name)

    def _pool(self, op, ins, name, kind):
        o = self._options(op, self.tfl.Pool2DOptions)
        _, h, w, _ = self.shape(ins[0])
        k, s = (o.FilterHeight(), o.FilterWidth()), (o.StrideH(), o.StrideW())
        attrs = dict(kernel_shape=list(k), strides=list(s), pads=self._pads(o.Padding(), (h, w), k, s, (1, 1)))
        if kind == "AveragePool":
            attrs["count_include_pad"] = 0   # TFLite averages the elements inside the map
        y = self.node(kind, [self.act(ins[0])], self.fresh(name), name, **attrs)
        return self.fused(y, o.FusedActivationFunction(), name)

    def op_AVERAGE_POOL_2D(self, op, ins, name):
        return self._pool(op, ins, name, "AveragePool")

    def op_MAX_POOL_2D(self, op, ins, name):
        return self._pool(op, ins, name, "MaxPool")

    def op_MEAN(self, op, ins, name):
        axes = self.const(ins[1])
        keep = self._options(op, self.tfl.ReducerOptions)
        if axes is None or sorted(int(a) % 4 for a in axes.reshape(-1)) != [1, 2] or len(self.shape(ins[0])) != 4:
            raise WqrcError(f"{self.path}: operator '{name}' (MEAN): over H and W of an NHWC map is supported")
        y = self.node("GlobalAveragePool", [self.act(ins[0])], self.fresh(name), name)
        if keep is not None and keep.KeepDims():
            return y
        return self.node("Flatten", [y], self.fresh(name + "_flat"), name + "_flat", axis=1)

    def op_ADD(self, op, ins, name):
        o = self._options(op, self.tfl.AddOptions)
        c = [self.const(i) for i in ins]
        args = [self.init(v, name + "_c") if v is not None else self.act(i) for v, i in zip(c, ins)]
        y = self.node("Add", args, self.fresh(name), name)
        return self.fused(y, o.FusedActivationFunction() if o else 0, name)

    def op_CONCATENATION(self, op, ins, name):
        o = self._options(op, self.tfl.ConcatenationOptions)
        rank = len(self.shape(ins[0]))
        axis = o.Axis() % rank
        if rank != 4 or axis != 3:
            raise WqrcError(f"{self.path}: operator '{name}' (CONCATENATION): along the channels of an NHWC map "
                            f"is supported")
        y = self.node("Concat", [self.act(i) for i in ins], self.fresh(name), name, axis=1)
        return self.fused(y, o.FusedActivationFunction(), name)

    def op_RESHAPE(self, op, ins, name):
        src, out = self.shape(ins[0]), self.shape(int(op.Outputs(0)))
        x = self.act(ins[0])
        if len(src) == 4 and len(out) == 2:   # an NHWC map flattened in (H, W, C) order
            nhwc = self.node("Transpose", [x], self.fresh(name + "_nhwc"), name + "_nhwc", perm=[0, 2, 3, 1])
            return self.node("Flatten", [nhwc], self.fresh(name), name, axis=1)
        if len(src) == len(out) == 2 or (len(src) == 4 and len(out) == 4 and src == out):
            return x
        raise WqrcError(f"{self.path}: operator '{name}' (RESHAPE): {list(src)} to {list(out)}; a flatten of a map "
                        f"before FULLY_CONNECTED is supported")

    def op_SOFTMAX(self, op, ins, name):
        return self.node("Softmax", [self.act(ins[0])], self.fresh(name), name, axis=-1)

    def op_QUANTIZE(self, op, ins, name):
        return self.act(ins[0])

    op_DEQUANTIZE = op_QUANTIZE
