"""An int8 TFLite model written with the TFLite schema (the ``tflite`` package's generated builders),
without TensorFlow: what an MCU user's converter produces, small enough to build in a test.

The network (NHWC, batch 1): conv 3x3 same + ReLU, depthwise 3x3 stride 2 + ReLU6, conv 1x1, add
of the two, max pool and average pool concatenated on channels, reshape, fully connected,
softmax. Weights are int8 (per output channel for the convolutions, per tensor for the dense
layer), biases int32 at input scale times weight scale, activations int8 with zero points, as
TFLite's post-training quantization writes them; every activation's scale and zero point comes
from the float network's range on random inputs (computed here in torch).
"""
from __future__ import annotations

import numpy as np


def _qparams(lo: float, hi: float) -> tuple[float, int]:
    """TFLite's asymmetric int8: scale and zero point covering [min(lo, 0), max(hi, 0)]."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-8) / 255.0
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


def float_net(seed: int = 0, weights: dict | None = None):
    """The float weights (random, or ``weights``) and a forward pass returning every tensor (NHWC numpy)."""
    import torch

    g = np.random.default_rng(seed)
    w = weights or dict(c1=g.normal(0, 0.4, (8, 3, 3, 3)), b1=g.normal(0, 0.1, 8), dw=g.normal(0, 0.4, (8, 1, 3, 3)),
                        bdw=g.normal(0, 0.1, 8), c2=g.normal(0, 0.3, (8, 8, 1, 1)), b2=g.normal(0, 0.1, 8),
                        fc=g.normal(0, 0.2, (10, 64)), bfc=g.normal(0, 0.1, 10))

    def forward(x_nhwc: np.ndarray) -> dict:
        t = {k: torch.tensor(v, dtype=torch.float64) for k, v in w.items()}
        out = _forward(t, torch.tensor(x_nhwc, dtype=torch.float64))
        return {k: (v.permute(0, 2, 3, 1) if v.dim() == 4 else v).numpy() for k, v in out.items()} | dict(x=x_nhwc)
    return w, forward


def _forward(t: dict, x_nhwc):
    """Every tensor of the network (NCHW torch) for weights ``t``: the float model, and what training differentiates."""
    import torch
    import torch.nn.functional as F

    x = x_nhwc.permute(0, 3, 1, 2)
    a = F.relu(F.conv2d(x, t["c1"], t["b1"], padding=1))
    d = F.conv2d(F.pad(a, (0, 1, 0, 1)), t["dw"], t["bdw"], stride=2, groups=8).clamp(0, 6)   # SAME, stride 2
    c = F.conv2d(d, t["c2"], t["b2"])
    s = d + c
    cat = torch.cat([F.max_pool2d(s, 2), F.avg_pool2d(s, 2)], 1)
    flat = cat.permute(0, 2, 3, 1).reshape(len(x), -1)          # NHWC order, as TFLite reshapes
    logits = flat @ t["fc"].T + t["bfc"]
    return dict(a=a, d=d, c=c, s=s, cat=cat, logits=logits, prob=torch.softmax(logits, 1))


def digits_nhwc(x: np.ndarray) -> np.ndarray:
    """scikit-learn digits samples (N, 1, 8, 8) in [0, 1] as this network's input: NHWC in [-1, 1],
    the grey level on all three channels."""
    return np.repeat(np.asarray(x, np.float64).transpose(0, 2, 3, 1) * 2 - 1, 3, axis=3)


def trained_on_digits(x_train: np.ndarray, y_train: np.ndarray, epochs: int = 60, seed: int = 0) -> dict:
    """The network's float weights trained on digits (``digits_nhwc`` samples): what a user
    converts to int8 after training. Full-batch Adam, seeded: a few seconds on a CPU."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    w0, _ = float_net(seed)
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w0.items()}
    x, y = torch.tensor(x_train, dtype=torch.float64), torch.tensor(y_train, dtype=torch.int64)
    opt = torch.optim.Adam(t.values(), lr=0.01)
    for _ in range(epochs):
        for i in range(0, len(x), 128):
            opt.zero_grad()
            F.cross_entropy(_forward(t, x[i:i + 128])["logits"], y[i:i + 128]).backward()
            opt.step()
    return {k: v.detach().numpy() for k, v in t.items()}


def int8_cnn(seed: int = 0, weights: dict | None = None, calib: np.ndarray | None = None) -> bytes:
    """The int8 flatbuffer of the network: random weights (``seed``) calibrated on uniform inputs,
    or ``weights`` calibrated on ``calib`` (NHWC samples), as a post-training converter would."""
    import flatbuffers
    import tflite as T

    w, forward = float_net(seed, weights)
    cal = forward(np.random.default_rng(seed + 1).uniform(-1, 1, (64, 8, 8, 3)) if calib is None else calib)
    q = {k: _qparams(float(v.min()), float(v.max())) for k, v in cal.items()}
    q["x"] = _qparams(-1.0, 1.0)
    q["prob"] = (1 / 256, -128)
    q["cat"] = q["s"]   # int8 CONCATENATION takes its inputs' scale (the pools keep the add's)

    b = flatbuffers.Builder(4096)
    buffers: list[bytes] = [b""]
    tensors: list[int] = []

    def vec(start, items, add):
        start(b, len(items))
        for v in reversed(items):
            add(v)
        return b.EndVector()

    def tensor(name: str, shape, ttype: int, data: bytes = b"", scale=None, zp=None, axis=0) -> int:
        buf = 0
        if data:
            buffers.append(data)
            buf = len(buffers) - 1
        qp = None
        if scale is not None:
            sv = vec(T.QuantizationParametersStartScaleVector, [float(s) for s in np.atleast_1d(scale)], b.PrependFloat32)
            zv = vec(T.QuantizationParametersStartZeroPointVector, [int(z) for z in np.atleast_1d(zp)], b.PrependInt64)
            T.QuantizationParametersStart(b)
            T.QuantizationParametersAddScale(b, sv)
            T.QuantizationParametersAddZeroPoint(b, zv)
            T.QuantizationParametersAddQuantizedDimension(b, axis)
            qp = T.QuantizationParametersEnd(b)
        nm = b.CreateString(name)
        sh = vec(T.TensorStartShapeVector, [int(d) for d in shape], b.PrependInt32)
        T.TensorStart(b)
        T.TensorAddShape(b, sh)
        T.TensorAddType(b, ttype)
        T.TensorAddBuffer(b, buf)
        T.TensorAddName(b, nm)
        if qp is not None:
            T.TensorAddQuantization(b, qp)
        tensors.append(T.TensorEnd(b))
        return len(tensors) - 1

    def act(name, shape, key):
        s, z = q[key]
        return tensor(name, shape, T.TensorType.INT8, scale=s, zp=z)

    def weights(name, wf, in_scale, per_channel_axis):
        """int8 weights (symmetric, per channel along ``per_channel_axis`` or per tensor) and the
        scales their int32 bias takes: in_scale * weight scale."""
        if per_channel_axis is None:
            ws = np.array([np.abs(wf).max() / 127.0])
            wq = np.round(wf / ws[0])
        else:
            red = tuple(i for i in range(wf.ndim) if i != per_channel_axis)
            ws = np.abs(wf).max(axis=red) / 127.0
            view = [1] * wf.ndim
            view[per_channel_axis] = -1
            wq = np.round(wf / ws.reshape(view))
        wq = np.clip(wq, -127, 127).astype(np.int8)
        t = tensor(name, wf.shape, T.TensorType.INT8, wq.tobytes(), ws, np.zeros(ws.size, np.int64),
                   per_channel_axis or 0)
        return t, in_scale * ws

    def bias(name, bf, scales):
        bq = np.round(bf / np.broadcast_to(scales, bf.shape)).astype(np.int32)
        return tensor(name, bf.shape, T.TensorType.INT32, bq.tobytes(), np.broadcast_to(scales, bf.shape),
                      np.zeros(bf.size, np.int64))

    x = act("input", (1, 8, 8, 3), "x")
    c1w, c1s = weights("conv1/w", w["c1"].transpose(0, 2, 3, 1), q["x"][0], 0)          # OHWI
    c1b = bias("conv1/b", w["b1"], c1s)
    a = act("conv1", (1, 8, 8, 8), "a")
    dww, dws = weights("dw/w", w["dw"][:, 0].transpose(1, 2, 0)[None], q["a"][0], 3)   # 1 H W C
    dwb = bias("dw/b", w["bdw"], dws)
    d = act("dw", (1, 4, 4, 8), "d")
    c2w, c2s = weights("conv2/w", w["c2"].transpose(0, 2, 3, 1), q["d"][0], 0)
    c2b = bias("conv2/b", w["b2"], c2s)
    c = act("conv2", (1, 4, 4, 8), "c")
    s = act("add", (1, 4, 4, 8), "s")
    mp = act("maxpool", (1, 2, 2, 8), "s")     # pools keep their input's parameters
    ap = act("avgpool", (1, 2, 2, 8), "s")
    cat = act("concat", (1, 2, 2, 16), "cat")
    shape_t = tensor("flat/shape", (2,), T.TensorType.INT32, np.array([1, 64], np.int32).tobytes())
    flat = act("flat", (1, 64), "cat")
    fcw, fcs = weights("fc/w", w["fc"], q["cat"][0], None)
    fcb = bias("fc/b", w["bfc"], fcs)
    logits = act("logits", (1, 10), "logits")
    prob = act("prob", (1, 10), "prob")

    BO, OPT = T.BuiltinOperator, T.BuiltinOptions
    codes: list[tuple[int, int]] = []

    def opcode(op: int, version: int) -> int:
        if (op, version) not in codes:
            codes.append((op, version))
        return codes.index((op, version))

    ops = []

    def operator(op, version, ins, outs, opt_type=0, build=None):
        opt = build() if build else None
        iv = vec(T.OperatorStartInputsVector, ins, b.PrependInt32)
        ov = vec(T.OperatorStartOutputsVector, outs, b.PrependInt32)
        T.OperatorStart(b)
        T.OperatorAddOpcodeIndex(b, opcode(op, version))
        T.OperatorAddInputs(b, iv)
        T.OperatorAddOutputs(b, ov)
        if opt is not None:
            T.OperatorAddBuiltinOptionsType(b, opt_type)
            T.OperatorAddBuiltinOptions(b, opt)
        ops.append(T.OperatorEnd(b))

    def conv_opt(stride, act_fn, padding=0):
        def build():
            T.Conv2DOptionsStart(b)
            T.Conv2DOptionsAddPadding(b, padding)
            T.Conv2DOptionsAddStrideW(b, stride)
            T.Conv2DOptionsAddStrideH(b, stride)
            T.Conv2DOptionsAddDilationWFactor(b, 1)
            T.Conv2DOptionsAddDilationHFactor(b, 1)
            T.Conv2DOptionsAddFusedActivationFunction(b, act_fn)
            return T.Conv2DOptionsEnd(b)
        return build

    def dw_opt():
        T.DepthwiseConv2DOptionsStart(b)
        T.DepthwiseConv2DOptionsAddPadding(b, 0)
        T.DepthwiseConv2DOptionsAddStrideW(b, 2)
        T.DepthwiseConv2DOptionsAddStrideH(b, 2)
        T.DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
        T.DepthwiseConv2DOptionsAddDilationWFactor(b, 1)
        T.DepthwiseConv2DOptionsAddDilationHFactor(b, 1)
        T.DepthwiseConv2DOptionsAddFusedActivationFunction(b, T.ActivationFunctionType.RELU6)
        return T.DepthwiseConv2DOptionsEnd(b)

    def pool_opt():
        T.Pool2DOptionsStart(b)
        T.Pool2DOptionsAddPadding(b, 1)
        T.Pool2DOptionsAddStrideW(b, 2)
        T.Pool2DOptionsAddStrideH(b, 2)
        T.Pool2DOptionsAddFilterWidth(b, 2)
        T.Pool2DOptionsAddFilterHeight(b, 2)
        return T.Pool2DOptionsEnd(b)

    def add_opt():
        T.AddOptionsStart(b)
        return T.AddOptionsEnd(b)

    def cat_opt():
        T.ConcatenationOptionsStart(b)
        T.ConcatenationOptionsAddAxis(b, 3)
        return T.ConcatenationOptionsEnd(b)

    def fc_opt():
        T.FullyConnectedOptionsStart(b)
        return T.FullyConnectedOptionsEnd(b)

    def reshape_opt():
        nv = vec(T.ReshapeOptionsStartNewShapeVector, [1, 64], b.PrependInt32)
        T.ReshapeOptionsStart(b)
        T.ReshapeOptionsAddNewShape(b, nv)
        return T.ReshapeOptionsEnd(b)

    def softmax_opt():
        T.SoftmaxOptionsStart(b)
        T.SoftmaxOptionsAddBeta(b, 1.0)
        return T.SoftmaxOptionsEnd(b)

    operator(BO.CONV_2D, 3, [x, c1w, c1b], [a], OPT.Conv2DOptions, conv_opt(1, T.ActivationFunctionType.RELU))
    operator(BO.DEPTHWISE_CONV_2D, 3, [a, dww, dwb], [d], OPT.DepthwiseConv2DOptions, dw_opt)
    operator(BO.CONV_2D, 3, [d, c2w, c2b], [c], OPT.Conv2DOptions, conv_opt(1, T.ActivationFunctionType.NONE))
    operator(BO.ADD, 2, [d, c], [s], OPT.AddOptions, add_opt)
    operator(BO.MAX_POOL_2D, 2, [s], [mp], OPT.Pool2DOptions, pool_opt)
    operator(BO.AVERAGE_POOL_2D, 2, [s], [ap], OPT.Pool2DOptions, pool_opt)
    operator(BO.CONCATENATION, 2, [mp, ap], [cat], OPT.ConcatenationOptions, cat_opt)
    operator(BO.RESHAPE, 1, [cat, shape_t], [flat], OPT.ReshapeOptions, reshape_opt)
    operator(BO.FULLY_CONNECTED, 4, [flat, fcw, fcb], [logits], OPT.FullyConnectedOptions, fc_opt)
    operator(BO.SOFTMAX, 2, [logits], [prob], OPT.SoftmaxOptions, softmax_opt)

    tv = vec(T.SubGraphStartTensorsVector, tensors, b.PrependUOffsetTRelative)
    iv = vec(T.SubGraphStartInputsVector, [x], b.PrependInt32)
    ov = vec(T.SubGraphStartOutputsVector, [prob], b.PrependInt32)
    opv = vec(T.SubGraphStartOperatorsVector, ops, b.PrependUOffsetTRelative)
    sname = b.CreateString("main")
    T.SubGraphStart(b)
    T.SubGraphAddTensors(b, tv)
    T.SubGraphAddInputs(b, iv)
    T.SubGraphAddOutputs(b, ov)
    T.SubGraphAddOperators(b, opv)
    T.SubGraphAddName(b, sname)
    sub = T.SubGraphEnd(b)

    code_offs = []
    for op, version in codes:
        T.OperatorCodeStart(b)
        T.OperatorCodeAddDeprecatedBuiltinCode(b, min(op, 127))
        T.OperatorCodeAddBuiltinCode(b, op)
        T.OperatorCodeAddVersion(b, version)
        code_offs.append(T.OperatorCodeEnd(b))
    buf_offs = []
    for data in buffers:
        dv = b.CreateByteVector(data) if data else None
        T.BufferStart(b)
        if dv is not None:
            T.BufferAddData(b, dv)
        buf_offs.append(T.BufferEnd(b))
    cv = vec(T.ModelStartOperatorCodesVector, code_offs, b.PrependUOffsetTRelative)
    sv = vec(T.ModelStartSubgraphsVector, [sub], b.PrependUOffsetTRelative)
    bv = vec(T.ModelStartBuffersVector, buf_offs, b.PrependUOffsetTRelative)
    desc = b.CreateString("wqrc test model")
    T.ModelStart(b)
    T.ModelAddVersion(b, 3)
    T.ModelAddOperatorCodes(b, cv)
    T.ModelAddSubgraphs(b, sv)
    T.ModelAddDescription(b, desc)
    T.ModelAddBuffers(b, bv)
    b.Finish(T.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())
