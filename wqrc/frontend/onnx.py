"""ONNX -> Graph.

Normalises what the torch exporters (legacy TorchScript and dynamo) and other
tools emit into the small IR: shape arithmetic (Shape/Gather/Concat/...) is
constant-folded with ONNX's own reference evaluator, Reshape/Squeeze that
flatten become ``flatten``, ReduceMean over H,W becomes ``global_avgpool``,
MatMul+Add and Conv+Add(const) become one layer with a bias. Anything else is
an error that names the node and points to docs/onnx_ops.md.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from typing import Optional

import numpy as np
import onnx
from onnx import numpy_helper

from wqrc.errors import WqrcError
from wqrc.ir.graph import Graph, Node
from wqrc.ops import MAX_ELEMENTS, OPS, infer_node_shape
from wqrc.frontend import qonnx
from wqrc.ops.lookup import ONNX_NAMES

MIN_OPSET = 11
_LOOKUP_BY_ONNX = {t: name for name, t in ONNX_NAMES.items()}
# The supported ops and their limits are listed once, for users, in docs/onnx_ops.md (a refusal
# points there; tests/test_frontend.py checks every converter method is listed).
OPS_DOC = "docs/onnx_ops.md"
# ops that may be evaluated when all their inputs are constants
_FOLDABLE = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Reshape",
             "Mul", "Div", "Add", "Sub", "Identity", "ConstantOfShape", "Range", "Transpose",
             "Flatten", "Neg", "Floor", "Ceil", "Sqrt", "ReduceProd", "Equal", "Where", "Expand"}


def load_onnx(path: str) -> Graph:
    """Read an ONNX file (weights inline or in external data next to it)."""
    if not os.path.isfile(path):
        raise WqrcError(f"{path}: no such file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf raises several unrelated types
        raise WqrcError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    _load_external_data(model, path)
    if not model.graph.node:
        raise WqrcError(f"{path}: not a readable ONNX model (the graph has no nodes; truncated or not ONNX?)")
    return onnx_to_graph(model, source=path)


MAX_TENSOR_BYTES = MAX_ELEMENTS * 8   # one initializer: the registry's element limit in float64


def _load_external_data(model: onnx.ModelProto, path: str) -> None:
    """Read weights kept in files beside the model, each bounded before it is read: a regular file
    inside the model's folder, holding the bytes the tensor's shape declares and no more than
    wqrc handles (a tensor without a length would otherwise read its whole file)."""
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, load_external_data_for_model

    base = os.path.dirname(os.path.abspath(path))
    external = [t for t in _get_all_tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL]
    for t in external:
        try:
            info = ExternalDataInfo(t)
            itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
        except Exception as exc:
            raise WqrcError(f"{path}: initializer '{t.name}': unreadable external data ({type(exc).__name__})") from None
        declared = int(np.prod([max(0, int(d)) for d in t.dims], dtype=object)) * itemsize
        file = os.path.normpath(os.path.join(base, info.location or ""))
        if not info.location or os.path.isabs(info.location) or not file.startswith(base + os.sep):
            raise WqrcError(f"{path}: initializer '{t.name}': its external data '{info.location}' is not a file "
                            f"in the model's folder")
        if not os.path.isfile(file):
            raise WqrcError(f"{path}: initializer '{t.name}': external data file '{info.location}' is missing or "
                            f"not a regular file")
        if declared > MAX_TENSOR_BYTES:
            raise WqrcError(f"{path}: initializer '{t.name}': {declared} bytes {tuple(t.dims)}, more than wqrc "
                            f"handles in one tensor ({MAX_TENSOR_BYTES})")
        if info.length is not None and info.length != declared:
            raise WqrcError(f"{path}: initializer '{t.name}': external data of {info.length} bytes for a shape "
                            f"{tuple(t.dims)} of {declared} bytes")
        info_offset = info.offset or 0
        if os.path.getsize(file) - info_offset < declared:
            raise WqrcError(f"{path}: initializer '{t.name}': external data file '{info.location}' holds fewer "
                            f"than the {declared} bytes its shape declares")
        if info.length is None:   # read exactly what the shape declares, not the rest of the file
            entry = t.external_data.add()
            entry.key, entry.value = "length", str(declared)
    if external:
        try:
            load_external_data_for_model(model, base)
        except Exception as exc:
            raise WqrcError(f"{path}: external data cannot be read ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def check_names(model: onnx.ModelProto, where: str) -> None:
    """The checker's rules that change what a model means, as one-line errors: one initializer per
    name (wqrc would quantize one, onnxruntime compute with the other), one writer per tensor, and
    at least one graph output."""
    g = model.graph
    seen: set[str] = set()
    for t in g.initializer:
        if t.name in seen:
            raise WqrcError(f"{where}: two initializers are named '{t.name}'; names must be unique")
        seen.add(t.name)
    inputs = {i.name for i in g.input}
    written: set[str] = set()
    for n in g.node:
        for o in n.output:
            if not o:
                continue
            if o in written or o in seen or o in inputs:
                raise WqrcError(f"{where}: node '{n.name}' ({n.op_type}) writes '{o}', which "
                                f"{'another node writes' if o in written else 'is a graph input or initializer'}; "
                                f"every tensor must have one producer")
            written.add(o)
    if not g.output:
        raise WqrcError(f"{where}: the graph declares no output")


def _opset(model: onnx.ModelProto, where: str) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    raise WqrcError(f"{where}: the model imports no default-domain ONNX opset")


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class _Converter:
    def __init__(self, model: onnx.ModelProto, source: str):
        self.model = model
        self.source = source or "<model>"
        self.opset = _opset(model, self.source)
        newest = onnx.defs.onnx_opset_version()
        if not MIN_OPSET <= self.opset <= newest:
            raise WqrcError(
                f"{self.source}: opset {self.opset} is not supported (supported: {OLDEST_UPGRADABLE}..{newest}; "
                f"{OLDEST_UPGRADABLE}..{MIN_OPSET - 1} are upgraded with onnx.version_converter)"
            )
        g = model.graph
        check_names(model, self.source)
        self.consts: dict[str, np.ndarray] = {}
        for t in g.initializer:
            try:
                self.consts[t.name] = numpy_helper.to_array(t).copy()
            except Exception as exc:  # raw data of the wrong length, unknown data type, missing external file
                raise WqrcError(f"{self.source}: initializer '{t.name}' cannot be read "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.nodes: list[Node] = []
        self.names: set[str] = set()
        self.alias: dict[str, str] = {}
        self.zero_pads: dict[str, tuple[int, int, int, int]] = {}   # Pad outputs: (top, left, bottom, right)
        self.one_d = False   # a (N, C, L) input: 1-D convolutions and pools run as 2-D ones of height 1
        # in a 1-D model, tensors the exporter sees as (N, C, 1, L) after an Unsqueeze (the dynamo
        # exporter's AdaptiveAvgPool1d and adaptive max pool): wqrc holds both views as (C, 1, L)
        self.unit_height: set[str] = set()
        # ShuffleNet's channel shuffle in flight: a 5-D view (N, g, C/g, H, W) of a tensor, and its
        # transpose (N, C/g, g, H, W): tensor -> (the NCHW tensor, g, transposed)
        self.channel_views: dict[str, tuple[str, int, bool]] = {}
        self.input_layout = "nchw"   # "nhwc": a channels-last input transposed first (Keras/TF exports)
        self.channels_last: dict[str, str] = {}   # an NHWC view (Transpose 0,2,3,1) -> its NCHW tensor
        self.hwc_flat: dict[str, tuple[int, int, int]] = {}  # a flatten in (H, W, C) order -> (C, H, W)
        # QONNX quantizers (wqrc.frontend.qonnx): fixed activation formats, weight level sets
        self.act_pins: dict[str, tuple[bool, int, int]] = {}
        self.weight_quant: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}  # const -> (codes, exps, bits)
        self.weight_pins: dict[str, dict] = {}
        self.weight_regrid: dict[str, tuple[np.ndarray, int, bool]] = {}  # const -> (values, bits, per channel)
        self.regridded_acts: list[str] = []
        self.quant_input: dict[str, str] = {}   # a Quant's output -> what it quantizes
        self.rounding_modes: set[str] = set()
        self.act_rounding: dict[str, str] = {}
        self.rounding_adds = qonnx.rounding_adds(model, self.consts)
        self.rounding_adds_seen: set[str] = set()
        self.aligned_pins: dict[str, tuple[bool, int, int]] = {}
        self.po2_hints = qonnx.po2_hints(model)
        self.uses = Counter(i for n in g.node for i in n.input if i)
        for o in g.output:
            self.uses[o.name] += 1

    # -- helpers -------------------------------------------------------
    def t(self, name: str) -> str:
        return self.alias.get(name, name)

    def const(self, node: onnx.NodeProto, idx: int, what: str) -> np.ndarray:
        name = node.input[idx] if idx < len(node.input) else ""
        if name not in self.consts:
            raise WqrcError(
                f"node '{node.name}' ({node.op_type}): its {what} ('{name}') must be a constant "
                "initializer; computed weights are not supported"
            )
        value = self.consts[name]
        if value.dtype.kind not in "biuf":
            raise WqrcError(f"node '{node.name}' ({node.op_type}): its {what} ('{name}') is a {value.dtype} "
                            f"tensor, not numbers")
        return value

    def opt_const(self, node: onnx.NodeProto, idx: int) -> Optional[np.ndarray]:
        if idx < len(node.input) and node.input[idx]:
            return self.const(node, idx, f"input {idx}")
        return None

    def unique(self, base: str) -> str:
        base = base or "node"
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def emit(self, onode: onnx.NodeProto, op: str, inputs: list[str], attrs=None, params=None,
             name: Optional[str] = None) -> Node:
        node = Node(op=op, name=self.unique(name or onode.name or f"{onode.op_type}_{len(self.nodes)}"),
                    inputs=[self.t(i) for i in inputs], output=onode.output[0],
                    attrs=attrs or {}, params=params or {})
        for i in node.inputs:
            if i in self.channel_views:
                raise self.unsupported(onode, f"it reads '{i}', a 5-D view of channels; such a view is supported "
                                              f"as ShuffleNet's channel shuffle only (Reshape to (N, g, C/g, H, W), "
                                              f"Transpose 0,2,1,3,4, Reshape to (N, C, H, W))")
            if i not in self.shapes:
                raise WqrcError(f"node '{onode.name}' ({onode.op_type}) reads '{i}', which is not computed before it")
            if i in self.channels_last or (i in self.hwc_flat and op != "dense"):
                raise self.unsupported(onode, f"it reads '{i}' in channels-last order; such a tensor may only be "
                                              f"flattened into a Gemm/MatMul")
        self.shapes[node.output] = infer_node_shape(node, [self.shapes[i] for i in node.inputs])
        if op not in ("flatten", "reshape", "dense") and any(i in self.unit_height for i in inputs):
            self.unit_height.add(node.output)
        self.nodes.append(node)
        return node

    def rank(self, tensor: str) -> int:
        """The tensor's rank as the exporter sees it, batch included: a 1-D model's (C, 1, L) is
        (N, C, L) unless an Unsqueeze made it (N, C, 1, L)."""
        held = len(self.shapes[self.t(tensor)])
        return 3 if self.one_d and held == 3 and tensor not in self.unit_height else held + 1

    def spatial_axes(self, onode, a: dict, what: str) -> bool:
        """Whether a reduction's axes (attribute or input 1) cover every spatial extent above 1 of
        an NCHW tensor (or (N, C, L)) and nothing else, so it is a global pool; raises otherwise.
        Returns keepdims."""
        axes = a.get("axes")
        if axes is None and len(onode.input) > 1 and onode.input[1]:
            axes = self.const(onode, 1, "axes").reshape(-1).tolist()
        rank, shape = self.rank(onode.input[0]), self.shapes[self.t(onode.input[0])]
        if len(shape) != 3 or axes is None:
            raise self.unsupported(onode, f"{what} over all axes, or of a tensor that is not (N, C, H, W) or "
                                          f"(N, C, L); over the spatial axes it is a global pool")
        axes = {int(ax) % rank for ax in axes}
        if rank == 3:   # (N, C, L) held as (C, 1, L)
            axes = {3 if ax == 2 else ax for ax in axes}
        extents = dict(zip((2, 3), shape[1:]))
        if not axes or not axes <= {2, 3} or any(extents[k] > 1 for k in {2, 3} - axes):
            raise self.unsupported(onode, f"{what} over axes {sorted(axes)}; over the spatial axes (a global "
                                          f"pool) it is supported")
        return bool(a.get("keepdims", 1))

    def unsupported(self, node: onnx.NodeProto, why: str = "") -> WqrcError:
        extra = f" ({why})" if why else ""
        return WqrcError(
            f"node '{node.name}': op type '{node.op_type}' is not supported{extra}; "
            f"the supported ONNX ops and their limits are listed in wqrc's {OPS_DOC}"
        )

    # -- input ---------------------------------------------------------
    def graph_input(self) -> tuple[str, tuple[int, ...]]:
        inputs = [i for i in self.model.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise WqrcError(f"{self.source}: expected exactly one graph input, found {[i.name for i in inputs]}")
        inp = inputs[0]
        tt = inp.type.tensor_type
        if tt.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
            raise WqrcError(f"{self.source}: input '{inp.name}' must be a float tensor")
        dims = []
        for k, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(d.dim_value)
            elif k == 0:
                dims.append(-1)  # dynamic batch is fine
            else:
                raise WqrcError(
                    f"{self.source}: input '{inp.name}' has a dynamic dimension {k} "
                    f"('{d.dim_param}'); only the batch dimension may be dynamic"
                )
        if len(dims) not in (2, 3, 4):
            raise WqrcError(f"{self.source}: input '{inp.name}' must be (N, C, H, W), (N, C, L) or (N, F); "
                            f"got rank {len(dims)}")
        if len(dims) == 3:  # Conv1d models (keyword spotting): (C, L) is run as (C, 1, L)
            self.one_d = True
            dims = [dims[0], dims[1], 1, dims[2]]
        if int(np.prod(dims[1:])) > MAX_ELEMENTS:
            raise WqrcError(f"{self.source}: input '{inp.name}' of shape {tuple(dims[1:])} is larger than wqrc "
                            f"supports ({MAX_ELEMENTS} elements)")
        return inp.name, tuple(dims[1:])

    # -- conversion ----------------------------------------------------
    def run(self) -> Graph:
        in_name, in_shape = self.graph_input()
        self.shapes[in_name] = in_shape
        self.input_name = in_name
        for onode in self.model.graph.node:
            self.convert(onode)
        in_shape = self.shapes[in_name]   # (C, H, W) once a channels-last input was transposed
        outs = [self.t(o.name) for o in self.model.graph.output]
        for o in outs:
            if o in self.consts:
                raise WqrcError(f"{self.source}: the graph output '{o}' is a constant")
            if o in self.channels_last or o in self.hwc_flat:
                raise WqrcError(f"{self.source}: the graph output '{o}' is channels-last; wqrc's outputs are (C, H, W)")
        if len(set(outs)) != len(outs):
            raise WqrcError(f"{self.source}: the graph outputs {outs} name one tensor twice")
        out = outs[0]
        graph = Graph(nodes=self.nodes, input=in_name, input_shape=in_shape, output=out,
                      source=self.source, input_layout=self.input_layout, extra_outputs=outs[1:])
        if self.input_layout == "nhwc":
            graph.notes.append(f"channels-last input: samples (N, H, W, C) are transposed once to (N, C, H, W) "
                               f"= (N, {', '.join(map(str, in_shape))}); the generated C, HLS and RTL take "
                               f"(C, H, W) order")
        if self.one_d:
            graph.notes.append(f"1-D model: its (C, L) = ({in_shape[0]}, {in_shape[2]}) input runs as (C, 1, L); "
                               f"1-D convolutions and pools as 2-D ones of height 1")
        graph.shapes = dict(self.shapes)
        self._qonnx_formats(graph)
        return graph

    def _qonnx_formats(self, graph: Graph) -> None:
        graph.act_formats = {self.t(t): pin for t, pin in self.act_pins.items()}
        graph.weight_formats = dict(self.weight_pins)
        graph.act_rounding = {self.t(t): r for t, r in self.act_rounding.items()}
        if not (self.act_pins or self.weight_pins):
            return
        graph.notes.append(f"QONNX quantizers: {len(self.weight_pins)} layers' weight levels and "
                           f"{len(self.act_pins)} activation formats come from the model")
        regrid_layers = [k for k, p in self.weight_pins.items() if p.get("regrid")]
        if regrid_layers or self.regridded_acts:
            graph.notes.append(f"QONNX scales that are not powers of two: {len(regrid_layers)} layers' weights and "
                               f"{len(self.regridded_acts)} activation formats re-gridded onto power-of-two steps "
                               f"(not exact: the report compares the outputs with the model's own)")
        for layer, pin in self.weight_pins.items():
            if "widened_from" in pin:
                graph.notes.append(f"layer '{layer}': its {pin['widened_from']}-bit weight quantizer uses codes "
                                   f"outside the symmetric DFP-{pin['widened_from']} range; stored as DFP-{pin['bits']}")
        modes = sorted(self.rounding_modes)
        if modes:
            graph.notes.append(f"QONNX activation rounding {', '.join(modes)}: wqrc rounds the input half away from "
                               f"zero and requantizes with floor(v + 1/2) or ties to even (docs/format.md §2-§3), "
                               f"so results can differ on exact ties")

    def fold(self, onode: onnx.NodeProto) -> bool:
        """Evaluate a node whose inputs are all known constants (or static shapes)."""
        if onode.op_type == "Constant":
            a = _attrs(onode)
            for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
                if key in a:
                    v = a[key]
                    self.consts[onode.output[0]] = (
                        numpy_helper.to_array(v) if key == "value" else np.array(v)
                    )
                    return True
            raise self.unsupported(onode, "Constant without a tensor value")
        if onode.op_type not in _FOLDABLE:
            return False
        ins = [i for i in onode.input if i]
        if onode.op_type == "Shape" and ins and self.t(ins[0]) in self.shapes:
            shape = np.array((1,) + self.shapes[self.t(ins[0])], dtype=np.int64)
            a = _attrs(onode)
            self.consts[onode.output[0]] = shape[a.get("start", 0):a.get("end", None)]
            return True
        if not all(i in self.consts for i in ins):
            return False
        from onnx.reference import ReferenceEvaluator

        feeds = {i: self.consts[i] for i in ins}
        size = _folded_size(onode, [self.consts[i] if i else None for i in onode.input], _attrs(onode))
        if size > MAX_ELEMENTS:
            raise WqrcError(f"node '{onode.name}' ({onode.op_type}): the constant it computes would hold {size} "
                            f"elements, more than wqrc handles ({MAX_ELEMENTS})")
        single = onnx.helper.make_graph(
            [onode], "fold",
            [onnx.helper.make_tensor_value_info(i, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
             for i, v in feeds.items()],
            [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in onode.output],
        )
        m = onnx.helper.make_model(single, opset_imports=[onnx.helper.make_opsetid("", self.opset)])
        try:
            outs = ReferenceEvaluator(m).run(None, feeds)
        except Exception as exc:
            raise WqrcError(f"node '{onode.name}' ({onode.op_type}): cannot evaluate constant expression: {exc}") from None
        for name, val in zip(onode.output, outs):
            self.consts[name] = np.asarray(val)
        return True

    def convert(self, onode: onnx.NodeProto) -> None:
        if onode.domain in qonnx.DOMAINS:
            self.op_qonnx(onode)
            return
        if onode.domain not in ("", "ai.onnx"):
            raise self.unsupported(onode, f"custom domain '{onode.domain}'")
        if self.fold(onode):
            return
        handler = getattr(self, "op_" + onode.op_type, None)
        if handler is None and onode.op_type in _LOOKUP_BY_ONNX:
            handler = self._lookup
        if handler is None:
            raise self.unsupported(onode)
        handler(onode, _attrs(onode))

    def _lookup(self, onode, a):
        """Sigmoid, Tanh, HardSigmoid, HardSwish, LeakyRelu: a lookup-table activation (wqrc/ops/lookup.py),
        its attributes as given or the op definition's defaults (the ONNX ones)."""
        op = _LOOKUP_BY_ONNX[onode.op_type]
        known = {x.name for x in OPS[op].attrs}
        extra = sorted(set(a) - known)
        if extra:
            raise self.unsupported(onode, f"attributes {extra}")
        self.emit(onode, op, [onode.input[0]], attrs={k: v for k, v in a.items() if k in known})

    def op_qonnx(self, onode):
        """A QONNX quantizer: on a constant, its quantized values (and, read as weights, the layer's
        level set); on an activation, the tensor's format (wqrc.frontend.qonnx)."""
        q = qonnx.QuantNode(onode, self.consts, self._quant_role(onode))
        x = onode.input[0]
        self.quant_input[onode.output[0]] = x
        if x in self.consts:
            if q.po2:
                codes, exps = q.quantize_constant(self.consts[x])
                self.consts[onode.output[0]] = np.ldexp(codes.astype(np.float64), exps).astype(np.float32)
                self.weight_quant[onode.output[0]] = (codes, exps, q.bits)
            else:   # the model's own values, re-gridded where they are a layer's weights (_pin_weights)
                values = q.values(self.consts[x])
                self.consts[onode.output[0]] = values.astype(np.float32)
                self.weight_regrid[onode.output[0]] = (values, q.bits, q.scale.size > 1)
            return
        src = self.t(x)
        if src not in self.shapes:
            raise WqrcError(f"node '{q.name}' (QONNX Quant) reads '{x}', which is not computed before it")
        pin = q.activation_format()
        if not q.po2:
            self.regridded_acts.append(src)
        readers = {n.op_type for n in self.model.graph.node if onode.output[0] in n.input}
        maker = next((n for n in reversed(self.nodes) if n.output == src), None)
        if maker is not None and OPS[maker.op].keeps_format and readers and readers <= {"Add", "Concat"} \
                and src not in self.act_pins:
            # a tensor that keeps its input's format (a pool, zero insertion ...) quantized only on its
            # way into an Add or Concat: the grid it is aligned to there, not its own format
            self.aligned_pins[onode.output[0]] = pin
            self.alias[onode.output[0]] = src
            return
        if self.act_pins.setdefault(src, pin) != pin:
            if not readers or not readers <= {"Add", "Concat"}:
                raise q.error(f"quantizes '{x}' a second time, to another format")
            # an input aligned to an Add's or Concat's grid: wqrc's add and concat align their
            # inputs to the output format themselves (docs/format.md §3); a Concat's output takes it
            self.aligned_pins[onode.output[0]] = pin
            self.alias[onode.output[0]] = src
            return
        exact = "HALF_UP" if src == self.input_name else "FLOOR"   # the contract's input / requant rounding
        if exact == "FLOOR" and q.mode in qonnx.TIES_TO_EVEN:
            self.act_rounding[src] = "half_even"   # a layer's requantization rounds so (docs/format.md §3)
        elif q.mode != exact or (exact == "FLOOR" and x not in self.rounding_adds_seen):
            self.rounding_modes.add(q.mode)
        self.alias[onode.output[0]] = src

    def _pin_weights(self, onode, layer: str, weight_input: str, to_rows) -> None:
        """Record the level set of a layer whose weights a QONNX quantizer made; ``to_rows`` maps the
        constant's layout to the layer's [out, ...] one (as the weights were mapped)."""
        if weight_input in self.weight_regrid:
            _, bits, per_channel = self.weight_regrid[weight_input]
            # its exponents (and bits) are chosen from the weights by wqrc.quant.plan.model_pins,
            # after any BatchNorm folds into them
            self.weight_pins[layer] = {"scheme": "dfp", "bits": bits, "regrid": True, "per_channel": per_channel}
            return
        got = self.weight_quant.get(weight_input)
        if got is None:
            return
        codes, exps, bits = got
        self.weight_pins[layer] = qonnx.weight_pin(layer, to_rows(codes), to_rows(exps), bits,
                                                   self.po2_hints.get(layer))

    def _quant_role(self, onode) -> str:
        """What a quantizer quantizes, for its errors: 'the weights of layer fc', 'the bias of ...'."""
        for reader in self.model.graph.node:
            if onode.output[0] in reader.input[1:3] and reader.op_type in ("Conv", "Gemm", "MatMul", "ConvTranspose"):
                k = list(reader.input).index(onode.output[0])
                src = onode.input[0]
                layer = src.rsplit(".", 1)[0] if src.endswith((".weight", ".bias")) else \
                    self._layer_name(reader, reader.input[1])
                return f"the {'weights' if k == 1 else 'bias'} of layer '{layer}'"
        return ""

    def _no_extra_outputs(self, onode: onnx.NodeProto) -> None:
        for extra in onode.output[1:]:
            if extra and self.uses[extra]:
                raise self.unsupported(onode, f"its output '{extra}' is used")

    def _given(self, onode, a: dict, op: str, key: str, onnx_key: Optional[str] = None):
        """An attribute as given, checked by the op's definition, or the definition's default."""
        d = OPS[op]
        value = a.get(onnx_key or key)
        if value is None:
            return d.attr(key).default
        stub = Node(op=op, name=onode.name, inputs=[], output="")
        return d.attr(key).check(stub, tuple(value) if isinstance(value, list) else value)

    def _spatial_pads(self, onode, a, op, kernel, strides, dilations) -> tuple[int, int, int, int]:
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("NOTSET", ""):
            if "pads" in a and len(a["pads"]) != 4:
                raise self.unsupported(onode, "only 2-D spatial ops are supported")
            return self._given(onode, a, op, "pads")
        if auto == "VALID":
            return (0, 0, 0, 0)
        if auto not in ("SAME_UPPER", "SAME_LOWER"):
            raise self.unsupported(onode, f"auto_pad '{auto}'")
        if kernel is None:
            raise WqrcError(f"node '{onode.name}' ({onode.op_type}): attribute kernel_shape is missing")
        _, h, w = self.shapes[self.t(onode.input[0])]
        pads = []
        for size, k, s, d in zip((h, w), kernel, strides, dilations):
            out = -(-size // s)
            total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
            small, big = total // 2, total - total // 2
            pads.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return (pads[0][0], pads[1][0], pads[0][1], pads[1][1])

    # -- one method per ONNX op ----------------------------------------
    def _layer_name(self, onode, weight_input: str) -> str:
        """A readable layer name: the torch module path when the exporter left one."""
        weight_input = self.quant_input.get(weight_input, weight_input)   # a QONNX Quant's constant
        if weight_input.endswith(".weight"):
            name = weight_input[: -len(".weight")]
        elif onode.name.startswith("/") and onode.name.count("/") >= 2:
            name = ".".join(onode.name.strip("/").split("/")[:-1])  # legacy: /block/conv1/Conv
        else:
            name = onode.name
        if not name or name[0].isdigit():  # nn.Sequential index
            name = f"{onode.op_type.lower()}_{name}"
        return name

    def _height_one(self, onode, a: dict) -> dict:
        """A 1-D conv or pool's attributes as a 2-D one's of height 1 (kernel 1, stride 1, no padding)."""
        if not self.one_d:
            raise self.unsupported(onode, "a 1-D window in a model whose input is not (N, C, L)")
        a = dict(a)
        for key in ("kernel_shape", "strides", "dilations"):
            if key in a:
                a[key] = [1] + list(a[key])
        if "pads" in a:
            p = list(a["pads"])
            if len(p) != 2:
                raise WqrcError(f"node '{onode.name}' ({onode.op_type}): attribute pads: {p} is not 2 integers")
            a["pads"] = [0, p[0], 0, p[1]]
        return a

    def weight(self, onode, idx: int, what: str) -> np.ndarray:
        """A layer's weight or bias: ONNX's Conv, Gemm and MatMul take floating-point ones; an integer
        or bool tensor there is an invalid model (onnxruntime refuses it), not weights to quantize."""
        value = self.const(onode, idx, what)
        if value.dtype.kind != "f":
            raise WqrcError(f"node '{onode.name}' ({onode.op_type}): its {what} ('{onode.input[idx]}') is {value.dtype}; "
                            f"ONNX takes floating-point {what}s here (export the float model)")
        return value

    def op_Conv(self, onode, a):
        w = self.weight(onode, 1, "weight").astype(np.float32)
        if w.ndim == 3:  # Conv1d
            a, w = self._height_one(onode, a), w[:, :, None, :]
        if w.ndim != 4:
            raise self.unsupported(onode, f"{w.ndim - 2}-D convolution; only 2-D is supported")
        if "kernel_shape" in a and tuple(a["kernel_shape"]) != tuple(w.shape[2:]):
            raise WqrcError(f"node '{onode.name}' (Conv): attribute kernel_shape {list(a['kernel_shape'])} "
                            f"contradicts its weight's {list(w.shape[2:])}")
        b = self.weight(onode, 2, "bias") if len(onode.input) > 2 and onode.input[2] else None
        b = np.zeros(w.shape[0], np.float32) if b is None else b.astype(np.float32).reshape(-1)
        kernel = tuple(w.shape[2:])
        strides = self._given(onode, a, "conv", "strides")
        dil = self._given(onode, a, "conv", "dilations")
        pads = self._spatial_pads(onode, a, "conv", kernel, strides, dil)
        before = self.zero_pads.get(onode.input[0])
        if before is not None:   # a constant zero Pad in front: the same as more conv padding
            auto = a.get("auto_pad", b"NOTSET")
            if (auto.decode() if isinstance(auto, bytes) else auto) not in ("NOTSET", "", "VALID"):
                raise self.unsupported(onode, "auto_pad SAME after a Pad; give the pads explicitly")
            pads = tuple(p + q for p, q in zip(pads, before))
        node = self.emit(onode, "conv", [onode.input[0]],
                         attrs=dict(strides=strides, pads=pads, dilations=dil,
                                    group=self._given(onode, a, "conv", "group")),
                         params=dict(weight=w, bias=b), name=self._layer_name(onode, onode.input[1]))
        self._pin_weights(onode, node.name, onode.input[1], lambda v: v)

    def op_Pad(self, onode, a):
        """Constant zero padding of H and W whose every reader is a Conv (as Keras/TF exports write
        'same' padding at stride 2), an AveragePool (then counted padding) or the MaxPool of a
        ReLU's output is folded into the reader's pads; any other constant padding of H and W is
        the pad op (docs/format.md §3g); other modes are refused."""
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if self.opset < 11:
            pads, value = list(a.get("pads", ())), float(a.get("value", 0.0))
        else:
            pads = [int(v) for v in self.const(onode, 1, "pads").reshape(-1)]
            v = self.opt_const(onode, 2)
            value = 0.0 if v is None or v.size == 0 else float(v.reshape(-1)[0])
            if len(onode.input) > 3 and onode.input[3]:
                raise self.unsupported(onode, "the axes input; give pads for every axis")
        readers = {n.op_type for n in self.model.graph.node if onode.output[0] in n.input}
        if mode != "constant":
            raise self.unsupported(onode, f"mode '{mode}': constant padding is supported")
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or any(p < 0 for p in pads):
            raise self.unsupported(onode, f"pads {pads}: only non-negative padding of H and W is supported")
        foldable = {"Conv", "AveragePool"} | ({"MaxPool"} if self._nonnegative(onode.input[0]) else set())
        if value == 0.0 and readers and readers <= foldable and \
                onode.output[0] not in {o.name for o in self.model.graph.output}:
            self.zero_pads[onode.output[0]] = (pads[2], pads[3], pads[6], pads[7])
            self.alias[onode.output[0]] = self.t(onode.input[0])
            return
        # anything else is the pad op: the border's value quantized into the input's format (§3g)
        self.emit(onode, "pad", [onode.input[0]], attrs=dict(pads=(pads[2], pads[3], pads[6], pads[7]), value=value))

    def _nonnegative(self, tensor: str) -> bool:
        """Whether ``tensor`` is a ReLU's (or a clamp at >= 0): then a max over it with zero padding
        is the max with padding that never wins, as long as every window holds an element."""
        src = self.t(tensor)
        node = next((n for n in self.nodes if n.output == src), None)
        return node is not None and (node.op == "relu" or node.op == "clip" and node.attrs.get("min") is not None
                                     and node.attrs["min"] >= 0)

    def op_Gemm(self, onode, a):
        if a.get("transA", 0):
            raise self.unsupported(onode, "transA=1 on the activation input")
        bm = self.weight(onode, 1, "weight B").astype(np.float64)
        if bm.ndim != 2:
            raise self.unsupported(onode, "B must be a matrix")
        wt = bm if a.get("transB", 0) else bm.T  # [out, in]
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        if not (np.isfinite(alpha) and np.isfinite(beta)):
            raise WqrcError(f"node '{onode.name}' (Gemm): alpha {alpha} and beta {beta} must be finite")
        w = (alpha * wt).astype(np.float32)
        c = self.opt_const(onode, 2)
        bias = np.zeros(w.shape[0], np.float32)
        if c is not None:
            # C broadcasts to (N, out); only a per-output (or scalar) bias is a layer bias
            if c.size not in (1, w.shape[0]) or c.ndim > 2 or c.ndim == 2 and c.shape[0] != 1:
                raise self.unsupported(onode, f"bias C of shape {tuple(c.shape)} is not one value per output "
                                              f"({w.shape[0]})")
            bias = (beta * np.broadcast_to(c.reshape(-1), (w.shape[0],))).astype(np.float32)
        node = self.emit(onode, "dense", [onode.input[0]], params=dict(weight=self._hwc_columns(onode, w), bias=bias),
                         name=self._layer_name(onode, onode.input[1]))
        if onode.input[1] in self.weight_quant and alpha != 1.0:
            raise self.unsupported(onode, f"alpha {alpha} scales weights a QONNX quantizer put on its grid")
        self._pin_weights(onode, node.name, onode.input[1], lambda v: v if a.get("transB", 0) else v.T)

    def _hwc_columns(self, onode, w: np.ndarray) -> np.ndarray:
        """A dense layer's weight columns in (C, H, W) order when its input was flattened channels-last."""
        shape = self.hwc_flat.get(self.t(onode.input[0]))
        if shape is None:
            return w
        c, h, wd = shape
        old = np.transpose(np.arange(h * wd * c).reshape(h, wd, c), (2, 0, 1)).reshape(-1)
        return np.ascontiguousarray(w[:, old])

    def op_MatMul(self, onode, a):
        bm = self.weight(onode, 1, "weight")
        if bm.ndim != 2:
            raise self.unsupported(onode, "only activation @ constant matrix is supported")
        w = np.ascontiguousarray(bm.T).astype(np.float32)
        node = self.emit(onode, "dense", [onode.input[0]],
                         params=dict(weight=self._hwc_columns(onode, w), bias=np.zeros(w.shape[0], np.float32)),
                         name=self._layer_name(onode, onode.input[1]))
        self._pin_weights(onode, node.name, onode.input[1], lambda v: v.T)

    def _channel_const(self, onode, c: np.ndarray, act: str) -> np.ndarray:
        """A constant operand as one value per channel of ``act`` (a scalar, (C,), (C, 1, 1) or
        (1, C, 1, 1) for a map; a scalar, (F,) or (1, F) for features), or a clear refusal."""
        shape = self.shapes[self.t(act)]
        n = shape[0]
        flat = np.asarray(c, np.float64)
        dims = [d for d in flat.shape if d != 1]
        if flat.size == 1:
            return np.full(n, float(flat.reshape(-1)[0]))
        per_map = len(shape) == 3 and flat.ndim >= 3 and flat.shape[-2:] == (1, 1) and flat.shape[-3] == n
        per_feat = len(shape) == 1 and flat.shape[-1] == n
        if dims != [n] or not (per_map or per_feat or flat.ndim == 1 and len(shape) == 1):
            raise self.unsupported(onode, f"a constant of shape {tuple(c.shape)} does not broadcast per channel "
                                          f"over {tuple(shape)}")
        if not np.all(np.isfinite(flat)):
            raise WqrcError(f"node '{onode.name}' ({onode.op_type}): its constant holds NaN or infinite values")
        return flat.reshape(-1)

    def _affine(self, onode, act: str, scale: np.ndarray, shift: np.ndarray) -> None:
        """y = scale * x + shift per channel, by constants: a BatchNormalization of mean 0 and variance
        1, which the fold_batchnorm pass folds into the layer before or makes a depthwise 1x1 conv."""
        n = len(scale)
        self.emit(onode, "batchnorm", [act], attrs=dict(epsilon=0.0),
                  params=dict(scale=scale, bias=shift, mean=np.zeros(n), var=np.ones(n)))

    def _const_operand(self, onode):
        """(activation input, constant, constant first?) of a binary op, or None for two activations."""
        x, y = onode.input[0], onode.input[1]
        if y in self.consts:
            return x, self.consts[y], False
        if x in self.consts:
            return y, self.consts[x], True
        return None

    def op_Add(self, onode, a):
        x, y = onode.input[0], onode.input[1]
        if x in self.consts and y in self.consts:
            return
        if onode.output[0] in self.rounding_adds:  # the rounding offset of the Quant after it
            self.alias[onode.output[0]] = self.t(x if y in self.consts else y)
            self.rounding_adds_seen.add(onode.output[0])
            return
        k = self._const_operand(onode)
        if k is not None:
            c = self._channel_const(onode, k[1], k[0])
            self._affine(onode, k[0], np.ones_like(c), c)
            return
        self.emit(onode, "add", [x, y])

    def op_Sub(self, onode, a):
        k = self._const_operand(onode)
        if k is None:  # x - y = x + (-1) * y: the negation folds into y's layer, or is a depthwise 1x1 conv
            x, y = onode.input[0], onode.input[1]
            neg = onode.output[0] + "__negated"
            c = self.shapes[self.t(y)][0]
            self._affine(onnx.helper.make_node("Mul", [y], [neg], name=f"{onode.name or 'sub'}_negate"), y,
                         -np.ones(c), np.zeros(c))
            self.emit(onode, "add", [x, neg])
            return
        c = self._channel_const(onode, k[1], k[0])
        if k[2]:  # c - x
            self._affine(onode, k[0], -np.ones_like(c), c)
        else:
            self._affine(onode, k[0], np.ones_like(c), -c)

    def op_Mul(self, onode, a):
        k = self._const_operand(onode)
        if k is None:  # two activations: a squeeze-and-excitation gate, the (C, 1, 1) one second
            x, y = onode.input[0], onode.input[1]
            if self.shapes.get(self.t(x), ())[1:] == (1, 1) and self.shapes.get(self.t(y), ())[1:] != (1, 1):
                x, y = y, x
            self.emit(onode, "mul", [x, y])
            return
        c = self._channel_const(onode, k[1], k[0])
        self._affine(onode, k[0], c, np.zeros_like(c))

    def op_Div(self, onode, a):
        k = self._const_operand(onode)
        if k is None or k[2]:
            raise self.unsupported(onode, "only an activation divided by a constant is supported")
        c = self._channel_const(onode, k[1], k[0])
        if np.any(c == 0):
            raise WqrcError(f"node '{onode.name}' (Div): division by a zero constant")
        self._affine(onode, k[0], 1.0 / c, np.zeros_like(c))

    def op_Relu(self, onode, a):
        self.emit(onode, "relu", [onode.input[0]])

    def op_Clip(self, onode, a):
        if self.opset < 11:
            lo, hi = a.get("min"), a.get("max")
        else:
            lo_c, hi_c = self.opt_const(onode, 1), self.opt_const(onode, 2)
            for c, what in ((lo_c, "min"), (hi_c, "max")):
                if c is not None and c.size != 1:
                    raise WqrcError(f"node '{onode.name}' (Clip): {what} must be a scalar, got shape {tuple(c.shape)}")
            lo = None if lo_c is None else float(lo_c.reshape(-1)[0])
            hi = None if hi_c is None else float(hi_c.reshape(-1)[0])
        self.emit(onode, "clip", [onode.input[0]], attrs=dict(min=lo, max=hi))

    def _pool(self, onode, a, op):
        self._no_extra_outputs(onode)
        if "kernel_shape" not in a:
            raise WqrcError(f"node '{onode.name}' ({onode.op_type}): attribute kernel_shape is missing")
        if len(a["kernel_shape"]) == 1:  # MaxPool1d, AvgPool1d
            a = self._height_one(onode, a)
        if len(a["kernel_shape"]) != 2:
            raise self.unsupported(onode, "only 2-D pooling is supported")
        kernel = self._given(onode, a, op, "kernel", "kernel_shape")
        strides = self._given(onode, a, op, "strides")
        if op == "avgpool":
            dil = tuple(a.get("dilations", (1, 1)))
            if dil != (1, 1):
                raise self.unsupported(onode, "dilated average pooling")
        else:
            dil = self._given(onode, a, op, "dilations")
        attrs = dict(kernel=kernel, strides=strides, pads=self._spatial_pads(onode, a, op, kernel, strides, dil),
                     ceil_mode=self._given(onode, a, op, "ceil_mode"))
        if op == "avgpool":
            attrs["count_include_pad"] = self._given(onode, a, op, "count_include_pad")
            before = self.zero_pads.get(onode.input[0])
            if before is not None:  # zeros in front are elements of every window: counted padding
                if any(attrs["pads"]) and not attrs["count_include_pad"]:
                    raise self.unsupported(onode, "a Pad in front of a pool with uncounted padding of its own")
                attrs["pads"] = tuple(p + q for p, q in zip(attrs["pads"], before))
                attrs["count_include_pad"] = 1
        else:
            attrs["dilations"] = dil
            before = self.zero_pads.get(onode.input[0])
            if before is not None:  # zeros in front of a ReLU's output never beat a window's max
                pads = tuple(p + q for p, q in zip(attrs["pads"], before))
                if dil != (1, 1) or attrs["ceil_mode"] or pads[0] >= kernel[0] or pads[2] >= kernel[0] or \
                        pads[1] >= kernel[1] or pads[3] >= kernel[1]:
                    raise self.unsupported(onode, "a Pad in front of a dilated or ceil-mode max pool, or padding "
                                                  "as wide as its window")
                attrs["pads"] = pads
        self.emit(onode, op, [onode.input[0]], attrs=attrs)

    def op_MaxPool(self, onode, a):
        self._pool(onode, a, "maxpool")

    def op_AveragePool(self, onode, a):
        self._pool(onode, a, "avgpool")

    def op_GlobalAveragePool(self, onode, a):
        self.emit(onode, "global_avgpool", [onode.input[0]])

    def _global_pool(self, onode, op: str, attrs: dict, keepdims: bool) -> None:
        x = onode.input[0]
        if keepdims:
            self.emit(onode, op, [x], attrs=attrs)
        else:
            mid = onode.output[0] + "__pool"
            self.emit(onnx.helper.make_node(onode.op_type, [x], [mid], name=onode.name), op, [x], attrs=attrs)
            self.emit(onode, "flatten", [mid], name=onode.name + "_flatten")
            self.unit_height.discard(mid)

    def op_ReduceMean(self, onode, a):
        """A mean over the spatial axes (torch's AdaptiveAvgPool(1) and x.mean((2, 3))): a global
        average pool; with keepdims=0 a flatten after it."""
        self._global_pool(onode, "global_avgpool", {}, self.spatial_axes(onode, a, "ReduceMean"))

    def op_ReduceMax(self, onode, a):
        """A maximum over the spatial axes (the dynamo exporter's AdaptiveMaxPool(1), amax((2, 3))):
        a max pool whose one window is the whole map."""
        keep = self.spatial_axes(onode, a, "ReduceMax")
        _, h, w = self.shapes[self.t(onode.input[0])]
        self._global_pool(onode, "maxpool", dict(kernel=(h, w), strides=(1, 1), pads=(0, 0, 0, 0)), keep)

    def op_Transpose(self, onode, a):
        """Channels-last models (Keras/TF exports): the input's transpose to NCHW is folded into the
        input (samples are taken in either layout, ir.graph.fit_input); a transpose back to NHWC is
        allowed before a flatten into a Gemm/MatMul, whose weight columns are then reordered."""
        x = onode.input[0]
        perm = [int(p) for p in a.get("perm", [])]
        if x in self.channel_views and perm == [0, 2, 1, 3, 4] and not self.channel_views[x][2]:
            nchw, g, _ = self.channel_views[x]
            self.channel_views[onode.output[0]] = (nchw, g, True)
            return
        src = self.shapes[self.t(x)]
        if perm == list(range(len(src) + 1)):
            self.alias[onode.output[0]] = self.t(x)
            return
        if x == self.input_name and perm == [0, 3, 1, 2] and len(src) == 3 and self.uses[x] == 1 and not self.nodes:
            h, w, c = src
            self.shapes[x] = (c, h, w)
            self.input_layout = "nhwc"
            self.alias[onode.output[0]] = x
            return
        if perm == [0, 2, 3, 1] and len(src) == 3 and self.t(x) not in self.channels_last:
            c, h, w = src
            self.channels_last[onode.output[0]] = self.t(x)
            self.shapes[onode.output[0]] = (h, w, c)   # as the exporter sees it
            return
        raise self.unsupported(onode, f"perm {perm}: a channels-last input's transpose to NCHW, and NCHW to NHWC "
                                      f"before a flatten into a Gemm/MatMul, are supported")

    def _flatten_or_identity(self, onode, target: tuple[int, ...]):
        if onode.input[0] in self.channels_last:  # NHWC flattened: the NCHW tensor, the order recorded
            nchw = self.channels_last[onode.input[0]]
            shape = self.shapes[nchw]
            if tuple(target) != (int(np.prod(shape)),):
                raise self.unsupported(onode, f"reshaping a channels-last tensor to {target}; only a flatten "
                                              f"into a Gemm/MatMul is supported")
            self.emit(onode, "flatten", [nchw])
            self.hwc_flat[onode.output[0]] = tuple(shape)
            return
        src = self.shapes[self.t(onode.input[0])]
        if tuple(target) == src:
            self.emit(onode, "identity", [onode.input[0]])
        elif len(target) == 1 and target[0] == int(np.prod(src)):
            self.emit(onode, "flatten", [onode.input[0]])
        elif 1 <= len(target) <= 3 and all(d >= 1 for d in target) and int(np.prod(target)) == int(np.prod(src)):
            self.emit(onode, "reshape", [onode.input[0]], attrs=dict(shape=tuple(int(d) for d in target)))
        else:
            raise self.unsupported(onode, f"reshaping {src} to {target} (the batch stays, and at most 3 "
                                          f"extents follow it)")

    def op_Flatten(self, onode, a):
        rank = len(self.shapes[self.t(onode.input[0])]) + 1
        if a.get("axis", 1) % rank != 1:
            raise self.unsupported(onode, "Flatten with axis != 1")
        self._flatten_or_identity(onode, (int(np.prod(self.shapes[self.t(onode.input[0])])),))

    def op_Reshape(self, onode, a):
        shape = [int(v) for v in self.const(onode, 1, "target shape")]
        if onode.input[0] in self.channel_views:
            nchw = self.channel_views[onode.input[0]][0]
            total = int(np.prod(self.shapes[nchw]))
            rest = [total // int(np.prod([d for d in shape[1:] if d != -1])) if d == -1 else d for d in shape[1:]]
            self._channel_shuffle(onode, tuple(rest))
            return
        src = self.shapes[self.t(onode.input[0])]
        if len(shape) < 1:
            raise self.unsupported(onode, "reshape to a scalar")
        rest = shape[1:]
        total = int(np.prod(src))
        if rest.count(-1) == 1:
            known = int(np.prod([d for d in rest if d != -1])) if len(rest) > 1 else 1
            rest = [total // known if d == -1 else d for d in rest]
        elif shape[0] == -1 and int(np.prod(rest)) != total:
            raise self.unsupported(onode, f"reshaping {src} to {shape} moves the batch dimension")
        rest = [src[k] if (d == 0 and not a.get("allowzero", 0) and k < len(src)) else d
                for k, d in enumerate(rest)]
        if self._channel_shuffle(onode, tuple(rest)):
            return
        self._flatten_or_identity(onode, tuple(rest))

    def _channel_shuffle(self, onode, target: tuple[int, ...]) -> bool:
        """ShuffleNet's channel shuffle, (C, H, W) -> (g, C/g, H, W) -> transposed (C/g, g, H, W) ->
        (C, H, W): the first Reshape is recorded as a view, the Transpose as its transpose, and the
        Reshape back becomes one select_channels (output channel b*g + a is input channel a*C/g + b)."""
        x = onode.input[0]
        view = self.channel_views.get(x)
        if view is not None:
            nchw, g, transposed = view
            c, h, w = self.shapes[nchw]
            if not transposed or target not in ((c, h, w), (c * h * w,)):
                raise self.unsupported(onode, f"reshaping a 5-D view of channels to {target}; only ShuffleNet's "
                                              f"channel shuffle is supported")
            perm = [(k % g) * (c // g) + k // g for k in range(c)]
            out = onode.output[0]
            if target == (c, h, w):
                self.emit(onode, "select_channels", [nchw], attrs=dict(channels=perm))
            else:
                mid = out + "__shuffled"
                self.emit(onnx.helper.make_node("Reshape", [nchw], [mid], name=onode.name), "select_channels",
                          [nchw], attrs=dict(channels=perm))
                self.emit(onode, "flatten", [mid], name=onode.name + "_flatten")
            return True
        src = self.shapes[self.t(x)]
        if len(target) == 4 and len(src) == 3 and target[0] * target[1] == src[0] and tuple(target[2:]) == src[1:] \
                and not self.one_d:
            self.channel_views[onode.output[0]] = (self.t(x), target[0], False)
            return True
        return False

    def op_Squeeze(self, onode, a):
        src = self.shapes[self.t(onode.input[0])]
        axes = a.get("axes")
        if axes is None and len(onode.input) > 1 and onode.input[1]:
            axes = self.const(onode, 1, "axes").tolist()
        if onode.input[0] in self.unit_height and axes is not None and \
                [ax % 4 for ax in axes] == [2]:   # (N, C, 1, L) back to (N, C, L): the same (C, 1, L)
            self.alias[onode.output[0]] = self.t(onode.input[0])
            return
        full = (1,) + src
        axes = [ax % len(full) for ax in (axes if axes is not None else
                                          [k for k, d in enumerate(full) if d == 1 and k > 0])]
        if 0 in axes:
            raise self.unsupported(onode, "squeezing the batch dimension")
        target = tuple(d for k, d in enumerate(src, start=1) if k not in axes)
        self._flatten_or_identity(onode, target)

    def op_PRelu(self, onode, a):
        """One slope: LeakyRelu's lookup table. A slope per channel (or per feature of a (F,) tensor):
        relu(x) plus the depthwise 1x1 conv of min(x, 0) by the slopes, every part an op of the contract."""
        x = onode.input[0]
        slope = self._channel_const(onode, self.const(onode, 1, "slope"), x)
        if np.all(slope == slope[0]):
            self.emit(onode, "leakyrelu", [x], attrs=dict(alpha=float(slope[0])))
            return
        base, out = onode.name or "prelu", onode.output[0]
        part = lambda op, ins, outs: onnx.helper.make_node(op, ins, outs, name=f"{base}_{op.lower()}")  # noqa: E731
        self.emit(part("Relu", [x], [out + "__pos"]), "relu", [x])
        self.emit(part("Clip", [x], [out + "__neg"]), "clip", [x], attrs=dict(min=None, max=0.0))
        self._affine(part("Mul", [out + "__neg"], [out + "__scaled"]), out + "__neg", slope, np.zeros_like(slope))
        self.emit(onode, "add", [out + "__pos", out + "__scaled"])

    def op_Resize(self, onode, a):
        """Nearest-neighbour upsampling by integer factors, in the coordinate modes where output
        pixel x reads input x // s: asymmetric with floor, or half_pixel with a rounding mode."""
        txt = lambda k, d: (lambda v: v.decode() if isinstance(v, bytes) else v)(a.get(k, d))  # noqa: E731
        mode, coord, near = txt("mode", "nearest"), txt("coordinate_transformation_mode", "half_pixel"), \
            txt("nearest_mode", "round_prefer_floor")
        if mode != "nearest":
            raise self.unsupported(onode, f"mode '{mode}'; nearest is supported")
        ok = (coord == "asymmetric" and near == "floor") or \
            (coord in ("half_pixel", "pytorch_half_pixel") and near in ("round_prefer_floor", "round_prefer_ceil"))
        if not ok:
            raise self.unsupported(onode, f"coordinate_transformation_mode '{coord}' with nearest_mode '{near}'")
        x = onode.input[0]
        c, h, w = self.shapes[self.t(x)]
        scales = self.opt_const(onode, 2 if self.opset >= 11 else 1)
        sizes = self.opt_const(onode, 3) if self.opset >= 11 else None
        if scales is not None and scales.size:
            f = [float(v) for v in scales.reshape(-1)]
        elif sizes is not None and sizes.size == 4:
            n_, c_, ho, wo = (int(v) for v in sizes.reshape(-1))
            f = [1.0, c_ / c, ho / h, wo / w]
        else:
            raise self.unsupported(onode, "neither constant scales nor sizes")
        if len(f) != 4 or f[:2] != [1.0, 1.0] or any(v < 1 or v != int(v) for v in f[2:]):
            raise self.unsupported(onode, f"scales {f}; integer factors >= 1 along H and W are supported")
        self.emit(onode, "upsample", [x], attrs=dict(scales=(int(f[2]), int(f[3]))))

    def op_ConvTranspose(self, onode, a):
        """A transposed convolution as zero insertion by its stride, then a stride-1 conv with the
        kernel flipped and its channel axes swapped per group, padded d*(k-1) - pad (plus
        output_padding at the bottom and right)."""
        wt = self.const(onode, 1, "weight").astype(np.float64)
        if wt.ndim != 4:
            raise self.unsupported(onode, f"{wt.ndim - 2}-D transposed convolution; 2-D is supported")
        if a.get("output_shape") is not None or (a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"", "")):
            raise self.unsupported(onode, "output_shape or auto_pad; give pads and output_padding")
        g = int(a.get("group", 1))
        cin, cog, kh, kw = wt.shape
        strides = tuple(int(v) for v in a.get("strides", (1, 1)))
        dil = tuple(int(v) for v in a.get("dilations", (1, 1)))
        pt, pl, pb, pr = (int(v) for v in a.get("pads", (0, 0, 0, 0)))
        oph, opw = (int(v) for v in a.get("output_padding", (0, 0)))
        pads = (dil[0] * (kh - 1) - pt, dil[1] * (kw - 1) - pl, dil[0] * (kh - 1) - pb + oph,
                dil[1] * (kw - 1) - pr + opw)
        if min(pads) < 0 or cin % g:
            raise self.unsupported(onode, f"pads {[pt, pl, pb, pr]} larger than the dilated kernel, or groups "
                                          f"{g} not dividing {cin} channels")
        cig = cin // g
        w = np.empty((g * cog, cig, kh, kw))
        for gi in range(g):
            blk = wt[gi * cig:(gi + 1) * cig]                       # (cig, cog, kh, kw)
            w[gi * cog:(gi + 1) * cog] = blk.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
        b = self.opt_const(onode, 2)
        b = np.zeros(g * cog, np.float32) if b is None else b.astype(np.float32).reshape(-1)
        x, base = onode.input[0], onode.name or "convtranspose"
        if (kh, kw) == (1, 1) and g == cin and cog == 1 and np.all(wt == 1) and not np.any(b) and \
                pads == (0, 0, 0, 0) and (oph, opw) == (0, 0):
            # a depthwise 1x1 kernel of ones: zero insertion alone (how wqrc's ONNX and QONNX write it)
            self.emit(onode, "zero_insert", [x], attrs=dict(scales=strides))
            return
        if strides != (1, 1):
            mid = onode.output[0] + "__zeros"
            self.emit(onnx.helper.make_node("Upsample", [x], [mid], name=f"{base}_zeros"), "zero_insert", [x],
                      attrs=dict(scales=strides))
            x = mid
        self.emit(onode, "conv", [x], attrs=dict(strides=(1, 1), pads=pads, dilations=dil, group=g),
                  params=dict(weight=w.astype(np.float32), bias=b), name=self._layer_name(onode, onode.input[1]))

    def op_Unsqueeze(self, onode, a):
        src = self.shapes[self.t(onode.input[0])]
        axes = a.get("axes")
        if axes is None:
            axes = self.const(onode, 1, "axes").reshape(-1).tolist()
        if self.rank(onode.input[0]) == 3 and len(src) == 3 and [ax % 4 for ax in axes] == [2]:
            # (N, C, L) -> (N, C, 1, L) in a 1-D model: already held as (C, 1, L)
            self.alias[onode.output[0]] = self.t(onode.input[0])
            self.unit_height.add(onode.output[0])
            return
        rank = len(src) + 1 + len(axes)
        axes = sorted(ax % rank for ax in axes)
        if 0 in axes:
            raise self.unsupported(onode, "unsqueezing before the batch dimension")
        full, it = [], iter(src)
        for k in range(1, rank):
            full.append(1 if k in axes else next(it))
        self._flatten_or_identity(onode, tuple(full))

    def op_BatchNormalization(self, onode, a):
        self._no_extra_outputs(onode)
        scale = self.const(onode, 1, "scale").astype(np.float64)
        bias = self.const(onode, 2, "bias").astype(np.float64)
        mean = self.const(onode, 3, "running mean").astype(np.float64)
        var = self.const(onode, 4, "running variance").astype(np.float64)
        self.emit(onode, "batchnorm", [onode.input[0]],
                  attrs=dict(epsilon=self._given(onode, a, "batchnorm", "epsilon")),
                  params=dict(scale=scale, bias=bias, mean=mean, var=var))

    def op_Concat(self, onode, a):
        rank = len(self.shapes[self.t(onode.input[0])]) + 1
        if a.get("axis", 1) % rank != 1:
            raise self.unsupported(onode, "Concat is supported along channels (axis 1) only")
        ins = [i for i in onode.input if i]
        self.emit(onode, "concat", ins)
        # QONNX: the parts' quantizers give the output's format (the grid they were aligned to)
        pins = {self.aligned_pins.get(i, self.act_pins.get(self.t(i))) for i in ins}
        if len(pins) == 1 and None not in pins:
            self.act_pins.setdefault(onode.output[0], pins.pop())

    def _select(self, onode, out: str, x: str, channels: list[int], k: int = 0) -> None:
        node = onnx.helper.make_node(onode.op_type, [x], [out], name=onode.name + (f"_{k}" if k else ""))
        self.emit(node, "select_channels", [x], attrs=dict(channels=channels))

    def _channel_axis(self, onode, axis: int) -> None:
        x = onode.input[0]
        if len(self.shapes[self.t(x)]) not in (1, 3) or axis % self.rank(x) != 1:
            raise self.unsupported(onode, f"{onode.op_type} along axis {axis}; along the channels of an "
                                          f"(N, C, H, W) or (N, F) tensor it is supported")

    def op_Split(self, onode, a):
        """A channel split (torch.chunk, torch.split along dim 1): each used output selects its
        consecutive channels."""
        x = onode.input[0]
        self._channel_axis(onode, int(a.get("axis", 0)))
        c = self.shapes[self.t(x)][0]
        sizes = a.get("split")
        if sizes is None and len(onode.input) > 1 and onode.input[1]:
            sizes = self.const(onode, 1, "split").reshape(-1).tolist()
        if sizes is None:   # equal parts (the last one smaller, opset 18's num_outputs)
            n = len(onode.output)
            step = -(-c // n)
            sizes = [min(step, c - k * step) for k in range(n)]
        sizes = [int(v) for v in sizes]
        if len(sizes) != len(onode.output) or sum(sizes) != c or min(sizes) < 1:
            raise self.unsupported(onode, f"split sizes {sizes} for {len(onode.output)} outputs of {c} channels")
        start = 0
        for k, (out, n) in enumerate(zip(onode.output, sizes)):
            if out and self.uses[out]:
                self._select(onode, out, x, list(range(start, start + n)), k)
            start += n

    def op_Slice(self, onode, a):
        """A slice of channels (x[:, a:b:s], the legacy exporter's torch.chunk): a select_channels."""
        x = onode.input[0]
        if x in self.consts:   # pragma: no cover - constants are folded before conversion
            raise self.unsupported(onode, "a slice of a constant")
        if self.opset < 10:
            starts, ends, axes, steps = a.get("starts"), a.get("ends"), a.get("axes"), None
        else:
            starts, ends = self.const(onode, 1, "starts"), self.const(onode, 2, "ends")
            axes, steps = self.opt_const(onode, 3), self.opt_const(onode, 4)
        starts, ends = np.asarray(starts).reshape(-1), np.asarray(ends).reshape(-1)
        axes = list(range(len(starts))) if axes is None else [int(v) for v in np.asarray(axes).reshape(-1)]
        steps = [1] * len(starts) if steps is None else [int(v) for v in np.asarray(steps).reshape(-1)]
        held = self.shapes[self.t(x)]
        rank = self.rank(x)
        full = (1,) + held if rank == len(held) + 1 else (1, held[0], held[2])
        keep = None
        for ax, s, e, st in zip(axes, starts, ends, steps):
            ax %= rank
            n = full[ax]
            picked = list(range(n))[slice(int(max(min(s, 2**62), -2**62)), int(max(min(e, 2**62), -2**62)), st)]
            if ax == 1:
                keep = picked
            elif picked != list(range(n)):
                raise self.unsupported(onode, f"a slice along axis {ax}; slices of channels (axis 1) are supported")
        if keep is None:
            self.alias[onode.output[0]] = self.t(x)
            return
        if not keep:
            raise self.unsupported(onode, "a slice that selects no channel")
        self._channel_axis(onode, 1)
        self._select(onode, onode.output[0], x, keep)

    def op_Dropout(self, onode, a):
        self._no_extra_outputs(onode)
        self.emit(onode, "identity", [onode.input[0]])

    def op_Identity(self, onode, a):
        self.emit(onode, "identity", [onode.input[0]])

    def op_Softmax(self, onode, a):
        self.emit(onode, "softmax", [onode.input[0]])


OLDEST_UPGRADABLE = 7


class OpsetUpgradeWarning(UserWarning):
    """A model of an opset older than MIN_OPSET was upgraded by onnx's version converter."""


def upgrade_opset(model: onnx.ModelProto, source: str) -> onnx.ModelProto:
    """Models of opsets 7..10 (older Keras/TF, Caffe2 and early PyTorch exports) upgraded to
    MIN_OPSET by onnx's own version converter, saying so; newer ones as they are."""
    where = source or "<model>"
    opset = _opset(model, where)
    if opset >= MIN_OPSET or opset < OLDEST_UPGRADABLE:
        return model
    from onnx import version_converter
    try:
        upgraded = version_converter.convert_version(model, MIN_OPSET)
    except Exception as exc:  # the converter raises RuntimeError, ValueError, or its own C++ errors
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WqrcError(f"{where}: opset {opset} could not be upgraded to {MIN_OPSET} by "
                        f"onnx.version_converter: {detail}") from None
    warnings.warn(f"{where}: opset {opset} upgraded to {MIN_OPSET} with onnx.version_converter",
                  OpsetUpgradeWarning, stacklevel=2)
    return upgraded


def _folded_size(onode: onnx.NodeProto, values: list, attrs: dict) -> int:
    """An upper bound on the elements a constant-folded node makes, from its inputs alone, so that a
    small file cannot make the evaluator allocate gigabytes (ConstantOfShape([10**6, 10**6]), a
    broadcast of a row by a column, Concat doubling its input thirty times)."""
    given = [v for v in values if v is not None]
    largest = max((v.size for v in given), default=1)
    op = onode.op_type

    def ints(v):
        return [int(x) for x in np.asarray(v).reshape(-1)]

    try:
        if op == "ConstantOfShape":
            return int(np.prod([max(0, d) for d in ints(values[0])], dtype=object))
        if op == "Expand":
            target = [max(0, d) for d in ints(values[1])]
            return int(np.prod(np.broadcast_shapes(values[0].shape, tuple(target)), dtype=object))
        if op == "Range":
            start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in values[:3])
            return max(0, int(np.ceil((limit - start) / delta))) if delta else 0
        if op in ("Mul", "Div", "Add", "Sub", "Equal", "Where"):
            return int(np.prod(np.broadcast_shapes(*[v.shape for v in given]), dtype=object))
        if op == "Concat":
            return sum(v.size for v in given)
        if op == "Gather":
            data, idx = values[0], values[1]
            axis = int(attrs.get("axis", 0)) % max(data.ndim, 1)
            return idx.size * (data.size // max(1, data.shape[axis] if data.ndim else 1))
    except (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError):
        return 0   # the evaluator reports the mistake itself
    return largest


def onnx_to_graph(model: onnx.ModelProto, source: str = "") -> Graph:
    """Convert an in-memory ONNX model (see :func:`load_onnx`); opsets 7..10 are upgraded first."""
    return _Converter(upgrade_opset(model, source), source).run()
