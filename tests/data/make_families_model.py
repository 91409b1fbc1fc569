"""Writes tests/data/families.onnx: one small network with every kernel family the code backends
render (conv, depthwise and dense; max, average and global pools; add; concat and clamps; an SE
gate product; nearest upsampling and zero insertion; a constant pad; table activations), for
tests/test_golden_outputs.py. Seeded; run with the torch the project pins:

    python tests/data/make_families_model.py
"""
import os

import torch
import torch.nn.functional as F
from torch import nn


class Families(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 8, 1)
        self.se_down = nn.Conv2d(8, 4, 1)
        self.se_up = nn.Conv2d(4, 8, 1)
        self.up = nn.ConvTranspose2d(16, 4, 2, stride=2)
        self.head = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        x = F.relu(self.stem(x))                             # conv + fused relu
        y = F.relu6(self.pw(self.dw(x)))                     # depthwise, pointwise, clip
        g = F.hardsigmoid(self.se_up(F.relu(self.se_down(F.adaptive_avg_pool2d(y, 1)))))
        y = y * g                                            # SE gate: global pool, product
        z = torch.cat([x + y, torch.sigmoid(y)], 1)          # add, table activation, concat
        z = F.max_pool2d(F.avg_pool2d(z, 3, stride=1, padding=1), 2)          # 8x8 -> 4x4
        z = F.pad(z, (1, 1, 1, 1), value=0.25)               # a constant border: the pad op
        z = F.avg_pool2d(z, 3, stride=1)                     # 6x6 -> 4x4
        z = F.interpolate(z, scale_factor=2, mode="nearest")  # 4x4 -> 8x8 upsample
        z = F.max_pool2d(z, 4)                               # 8x8 -> 2x2
        z = F.hardswish(self.up(z))                          # zero insertion + conv; table activation
        return self.head(torch.flatten(z, 1))


if __name__ == "__main__":
    torch.manual_seed(0)
    model = Families().eval()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "families.onnx")
    torch.onnx.export(model, torch.rand(1, 2, 8, 8), path, opset_version=17, dynamo=False,
                      input_names=["x"], output_names=["y"])
    print("wrote", path)
