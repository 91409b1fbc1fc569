"""The architectures users bring, built in torch with seeded random weights (no downloads).

The MLPerf Tiny reference models (keyword spotting DS-CNN, image
classification ResNet-8, visual wake words MobileNetV1-0.25, anomaly
detection autoencoder) at their published shapes, MobileNetV2-0.35 at 96x96
(inverted residuals, ReLU6), ShuffleNetV2 x0.5 at 32x32 (channel split and
shuffle), and ResNet-18 at 64x64 as the large end (11M weights). They exist so that tests and benchmarks exercise what real users
compile: depthwise-separable stacks, residual adds with 1x1 shortcuts,
stride-2 'same' padding, deep dense stacks. Weights are random (seeded), and
every BatchNorm gets random statistics, so folding it changes the weights as
a trained model's would. Accuracy means nothing here; shapes, op mix and
value ranges are what matter.

    model, input_shape = zoo.build("ds_cnn")
    graph = wqrc.from_torch(model, np.zeros((1,) + input_shape, np.float32))
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def _bn(c: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():  # statistics a trained model might have, so folding matters
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    return bn


def _conv_bn_relu(cin: int, cout: int, k, stride=1, pad=0, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False), _bn(cout), nn.ReLU()]


def ds_cnn() -> nn.Module:
    """MLPerf Tiny keyword spotting DS-CNN (small): 49x10 MFCC in, 12 classes, 2.7M MACs."""
    layers = _conv_bn_relu(1, 64, (10, 4), stride=2, pad=(5, 1))
    for _ in range(4):
        layers += _conv_bn_relu(64, 64, 3, pad=1, groups=64) + _conv_bn_relu(64, 64, 1)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 12))


class _ResBlock(nn.Module):
    """A basic residual block; the shortcut is a 1x1 conv where the shape changes (with a
    BatchNorm as in ResNet-18 when short_bn, a plain conv as in MLPerf Tiny's ResNet-8)."""

    def __init__(self, cin: int, cout: int, stride: int, short_bn: bool = False):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn_relu(cin, cout, 3, stride, 1),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), _bn(cout))
        if stride == 1 and cin == cout:
            self.short = nn.Identity()
        elif short_bn:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _bn(cout))
        else:
            self.short = nn.Conv2d(cin, cout, 1, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.short(x))


def resnet8() -> nn.Module:
    """MLPerf Tiny image classification ResNet-8: 32x32x3 in, 10 classes, 12.5M MACs."""
    return nn.Sequential(*_conv_bn_relu(3, 16, 3, pad=1), _ResBlock(16, 16, 1), _ResBlock(16, 32, 2),
                         _ResBlock(32, 64, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def resnet18(classes: int = 10) -> nn.Module:
    """ResNet-18 (He et al.): 64-128-256-512 stages of two basic blocks each, as torchvision
    builds it, at a 64x64 input here (148M MACs, 11.2M weights)."""
    def stage(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [_ResBlock(cin, cout, stride, short_bn=True), _ResBlock(cout, cout, 1, short_bn=True)]

    return nn.Sequential(*_conv_bn_relu(3, 64, 7, stride=2, pad=3), nn.MaxPool2d(3, 2, 1),
                         *stage(64, 64, 1), *stage(64, 128, 2), *stage(128, 256, 2), *stage(256, 512, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes))


def mobilenet_v1(alpha: float = 0.25, classes: int = 2) -> nn.Module:
    """MobileNetV1 (MLPerf Tiny visual wake words at alpha 0.25, 96x96x3 in: 7.5M MACs)."""
    def c(n: int) -> int:
        return max(8, int(n * alpha))

    layers = _conv_bn_relu(3, c(32), 3, stride=2, pad=1)
    plan = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2)] + \
        [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    for cin, cout, s in plan:
        layers += _conv_bn_relu(c(cin), c(cin), 3, s, 1, groups=c(cin)) + _conv_bn_relu(c(cin), c(cout), 1)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c(1024), classes))


def _divisible(v: float, d: int = 8) -> int:
    """MobileNet's channel rounding: to a multiple of d, never below 90% of v."""
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, t: int):
        super().__init__()
        mid = cin * t
        layers: list[nn.Module] = []
        if t != 1:
            layers += [nn.Conv2d(cin, mid, 1, bias=False), _bn(mid), nn.ReLU6()]
        layers += [nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), _bn(mid), nn.ReLU6(),
                   nn.Conv2d(mid, cout, 1, bias=False), _bn(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet_v2(alpha: float = 0.35, classes: int = 2) -> nn.Module:
    """MobileNetV2 (Sandler et al.) at width alpha: inverted residual blocks (1x1 expansion by t,
    3x3 depthwise, linear 1x1 projection, a residual where shapes allow), ReLU6, a 1280-channel
    head; at 0.35 and 96x96 (visual wake words) 11.8M MACs."""
    cin = _divisible(32 * alpha)
    layers = [nn.Conv2d(3, cin, 3, 2, 1, bias=False), _bn(cin), nn.ReLU6()]
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)]:
        for i in range(n):
            cout = _divisible(c * alpha)
            layers.append(_InvertedResidual(cin, cout, s if i == 0 else 1, t))
            cin = cout
    layers += [nn.Conv2d(cin, 1280, 1, bias=False), _bn(1280), nn.ReLU6()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, classes))


class _SqueezeExcite(nn.Module):
    """MobileNetV3's squeeze-and-excitation: x * hardsigmoid(fc(relu(fc(mean(x)))))."""

    def __init__(self, c: int):
        super().__init__()
        mid = _divisible(c / 4)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, mid, 1), nn.ReLU(), nn.Conv2d(mid, c, 1),
                                  nn.Hardsigmoid())

    def forward(self, x):
        return x * self.gate(x)


class _Bneck(nn.Module):
    """MobileNetV3's bottleneck (and EfficientNet's MBConv): 1x1 expansion, k x k depthwise,
    optional squeeze-and-excitation, linear 1x1 projection, a residual where shapes allow."""

    def __init__(self, cin: int, mid: int, cout: int, k: int, stride: int, se: bool, act: type):
        super().__init__()
        layers: list[nn.Module] = []
        if mid != cin:
            layers += [nn.Conv2d(cin, mid, 1, bias=False), _bn(mid), act()]
        layers += [nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False), _bn(mid), act()]
        if se:
            layers.append(_SqueezeExcite(mid))
        layers += [nn.Conv2d(mid, cout, 1, bias=False), _bn(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet_v3_small(classes: int = 10, in_ch: int = 3, stem_stride: int = 2) -> nn.Module:
    """MobileNetV3-Small (Howard et al. 2019, Table 2, as torchvision builds it): hard-swish,
    squeeze-and-excitation gated by hard-sigmoid, 5x5 depthwise convolutions, a 1024 head.
    ``stem_stride`` 1 keeps a 28x28 or 32x32 input's resolution one stage longer."""
    plan = [(3, 16, 16, True, "RE", 2), (3, 72, 24, False, "RE", 2), (3, 88, 24, False, "RE", 1),
            (5, 96, 40, True, "HS", 2), (5, 240, 40, True, "HS", 1), (5, 240, 40, True, "HS", 1),
            (5, 120, 48, True, "HS", 1), (5, 144, 48, True, "HS", 1), (5, 288, 96, True, "HS", 2),
            (5, 576, 96, True, "HS", 1), (5, 576, 96, True, "HS", 1)]
    layers: list[nn.Module] = [nn.Conv2d(in_ch, 16, 3, stem_stride, 1, bias=False), _bn(16), nn.Hardswish()]
    cin = 16
    for k, mid, cout, se, act, stride in plan:
        layers.append(_Bneck(cin, mid, cout, k, stride, se, nn.ReLU if act == "RE" else nn.Hardswish))
        cin = cout
    layers += [nn.Conv2d(cin, 576, 1, bias=False), _bn(576), nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1024, classes)]
    return nn.Sequential(*layers)


def efficientnet_lite(classes: int = 10, in_ch: int = 3, width: float = 0.5, stem_stride: int = 2) -> nn.Module:
    """An EfficientNet-lite-style network (Tan and Le's MBConv stages as the lite variants keep
    them: ReLU6, no squeeze-and-excitation, no swish), lite0's plan at ``width`` with each stage's
    repeats halved: the deep inverted-residual stacks whose 8-bit activations issue 33 measures."""
    plan = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
            (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
    stem = _divisible(32 * width)
    layers: list[nn.Module] = [nn.Conv2d(in_ch, stem, 3, stem_stride, 1, bias=False), _bn(stem), nn.ReLU6()]
    cin = stem
    for t, k, stride, c, n in plan:
        cout = _divisible(c * width)
        for i in range(-(-n // 2)):
            layers.append(_Bneck(cin, cin * t, cout, k, stride if i == 0 else 1, False, nn.ReLU6))
            cin = cout
    head = _divisible(1280 * width)
    layers += [nn.Conv2d(cin, head, 1, bias=False), _bn(head), nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Dropout(0.2), nn.Linear(head, classes)]
    return nn.Sequential(*layers)


def channel_shuffle(x, groups: int):
    """ShuffleNet's channel shuffle, written as torchvision writes it: a 5-D view, a transpose of
    the group axes, and a view back."""
    n, c, h, w = x.shape
    x = x.view(n, groups, c // groups, h, w)
    return torch.transpose(x, 1, 2).contiguous().view(n, -1, h, w)


class _ShuffleUnit(nn.Module):
    """ShuffleNetV2's unit (Ma et al.): stride 1 splits the channels in halves and transforms one
    (1x1, 3x3 depthwise, 1x1); stride 2 transforms the whole input on two branches; the halves are
    concatenated and shuffled in two groups."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride = stride
        half = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), _bn(cin),
                                         *_conv_bn_relu(cin, half, 1))
        right_in = cin if stride > 1 else half
        self.branch2 = nn.Sequential(*_conv_bn_relu(right_in, half, 1),
                                     nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False), _bn(half),
                                     *_conv_bn_relu(half, half, 1))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


def shufflenet_v2(width: float = 0.5, classes: int = 10) -> nn.Module:
    """ShuffleNetV2 x0.5 (stage widths 48, 96, 192, a 1024-channel head; 4, 8, 4 units): channel
    split by chunk, channel shuffle by reshape-transpose-reshape; at 32x32 0.82M MACs, 0.35M
    parameters."""
    assert width == 0.5, "only x0.5's widths are listed"
    widths, repeats = [24, 48, 96, 192, 1024], [4, 8, 4]
    layers: list[nn.Module] = [*_conv_bn_relu(3, widths[0], 3, 2, 1), nn.MaxPool2d(3, 2, 1)]
    cin = widths[0]
    for cout, n in zip(widths[1:4], repeats):
        for i in range(n):
            layers.append(_ShuffleUnit(cin, cout, 2 if i == 0 else 1))
            cin = cout
    layers += _conv_bn_relu(cin, widths[4], 1)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[4], classes))


def autoencoder() -> nn.Module:
    """MLPerf Tiny anomaly detection autoencoder: 640 in and out, dense 128 x4, bottleneck 8 (0.26M MACs).
    The reference has a BatchNorm after every dense layer; here it is left out (a BatchNorm after
    a Gemm is folded the same way as after a Conv, so it adds nothing to what is exercised)."""
    dims = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
    layers: list[nn.Module] = []
    for a, b in zip(dims, dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(128, 640))


# name -> (builder, input shape without the batch dimension)
MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "ds_cnn": (ds_cnn, (1, 49, 10)),
    "resnet8": (resnet8, (3, 32, 32)),
    "mobilenet_v1_025": (mobilenet_v1, (3, 96, 96)),
    "mobilenet_v2_035": (mobilenet_v2, (3, 96, 96)),
    "autoencoder": (autoencoder, (640,)),
    "resnet18": (resnet18, (3, 64, 64)),
    "shufflenet_v2_05": (shufflenet_v2, (3, 32, 32)),
    "mobilenet_v3_small": (mobilenet_v3_small, (3, 96, 96)),
    "efficientnet_lite": (efficientnet_lite, (3, 96, 96)),
}


def build(name: str, seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """The model ``name`` of :data:`MODELS` with weights drawn from ``seed``, in eval mode."""
    make, shape = MODELS[name]
    torch.manual_seed(seed)
    return make().eval(), shape
