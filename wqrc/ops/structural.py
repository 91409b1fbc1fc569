"""Ops that move or drop data: flatten, reshape, channel selection, identity, trailing softmax,
foldable batch norm."""
from __future__ import annotations

import math

from wqrc.ops.base import MAX_EXTENT, Attr, OpDef, finite_param


class Flatten(OpDef):
    name = "flatten"
    doc = "(C, H, W) -> (C*H*W)"
    keeps_format = True
    aliases_input = True
    kernel = "alias"
    round_commutes = True

    def shape(self, node, in_shapes):
        return (math.prod(in_shapes[0]),)

    def run_int(self, qm, node, ins, path):
        return ins[0].reshape(len(ins[0]), -1)


class Reshape(OpDef):
    """Any reshape that keeps the batch: tensors are stored in C order, so it moves no data
    (the same buffer, reinterpreted, in every target): (C,) -> (C, 1, 1) for a gate computed by
    dense layers, squeezes and unsqueezes of unit extents, (C, H, W) -> (C', H', W')."""
    name = "reshape"
    doc = "reshape keeping the batch and the element order (no data moves)"
    attrs = (Attr("shape", "shape", None, lo=1, hi=MAX_EXTENT, required=True,
                  doc="the output shape, batch excluded"),)
    keeps_format = True
    aliases_input = True
    kernel = "alias"
    round_commutes = True

    def shape(self, node, in_shapes):
        out = tuple(node.attrs["shape"])
        if math.prod(out) != math.prod(in_shapes[0]):
            self.fail(node, f"attribute shape: {out} does not hold the {math.prod(in_shapes[0])} elements of "
                            f"{tuple(in_shapes[0])}")
        return out

    def run_int(self, qm, node, ins, path):
        return ins[0].reshape((len(ins[0]),) + tuple(node.attrs["shape"]))


class SelectChannels(OpDef):
    """Output channel k is input channel ``channels[k]`` (of a (C, H, W) tensor, or feature k of
    an (F,) one): a channel split (Split, Slice along channels) or a channel shuffle (ShuffleNet's
    reshape-transpose-reshape). Values only move, in the input's format; each target copies the
    runs of consecutive channels, or, where it can address a tensor inside another's buffer (the
    C and Cortex-M targets), copies nothing for a selection of one run (a split's part)."""
    name = "select_channels"
    doc = "channel selection or permutation (Split, Slice on channels, channel shuffle)"
    attrs = (Attr("channels", "indices", None, lo=0, hi=MAX_EXTENT, required=True,
                  doc="the input channel of each output channel"),)
    rank = (1, 3)
    keeps_format = True
    selects = True
    kernel = "copy"
    round_commutes = True

    def blocks(self, node):
        return channel_blocks(node.attrs["channels"])

    def view(self, node, in_shape):
        """One run of consecutive channels, unclamped: channel ``channels[0]``'s first element."""
        ch = list(node.attrs["channels"])
        if node.attrs.get("qclip") is not None or ch != list(range(ch[0], ch[0] + len(ch))):
            return None
        return ch[0] * math.prod(in_shape[1:])

    def shape(self, node, in_shapes):
        c = in_shapes[0][0]
        bad = [k for k in node.attrs["channels"] if k >= c]
        if bad:
            self.fail(node, f"attribute channels: {bad[0]} is not a channel of an input of {c}")
        return (len(node.attrs["channels"]),) + tuple(in_shapes[0][1:])

    def run_int(self, qm, node, ins, path):
        return ins[0][:, list(node.attrs["channels"])]


def channel_blocks(channels, most_groups: int = 64) -> list[tuple[int, int, int, int, int, int]]:
    """The copies that make a selection, fewest first: (output channel, input channel, channels a
    block, blocks, output step, input step), steps in channels. A split is one block of
    consecutive channels; a shuffle of g groups is g strided series of one channel each (output
    channels r, r+g, ... read input channels in a series of constant step)."""
    runs: list[list[int]] = []
    for k, c in enumerate(channels):
        if runs and runs[-1][1] + runs[-1][2] == c:
            runs[-1][2] += 1
        else:
            runs.append([k, c, 1])
    best = [(k, c, n, 1, 0, 0) for k, c, n in runs]
    for g in range(2, min(most_groups, len(channels) // 2, len(best) - 1) + 1):
        series = []
        for r in range(g):
            s = list(channels[r::g])
            step = s[1] - s[0] if len(s) > 1 else 0
            if any(b - a != step for a, b in zip(s, s[1:])):
                break
            series.append((r, s[0], 1, len(s), g, step))
        else:
            return series
    return best


class Identity(OpDef):
    name = "identity"
    doc = "no-op (Identity, Dropout); removed"
    integer = False


class Softmax(OpDef):
    name = "softmax"
    doc = "trailing softmax; dropped from the integer graph"
    integer = False


class BatchNorm(OpDef):
    name = "batchnorm"
    doc = "batch normalisation (folded into the layer before it)"
    integer = False
    attrs = (Attr("epsilon", "float", 1e-5),)

    def check_params(self, node, in_shapes):
        c = in_shapes[0][0]
        for key in ("scale", "bias", "mean", "var"):
            finite_param(self, node, key, (c,))
        if node.attrs["epsilon"] < 0 or (node.params["var"] + node.attrs["epsilon"] <= 0).any():
            self.fail(node, "variance + epsilon must be positive")
