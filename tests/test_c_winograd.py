"""The C target's Winograd F(2x2, 3x3) kernel (hw/c/kernels/wino.h.j2): which layers take it, and
bit-exact outputs on the host (UBSan), on a Cortex-M4 (its DSP paths) and on a Cortex-M55 (where
the layer runs the dual-MAC kernel in the buffers sized for both)."""
import numpy as np
import pytest

import wqrc
import wqrc.backend.c as c_backend
from wqrc.backend.c import generate_c
from wqrc.pack import pack

import needs
from conftest import TARGET_RULE, UBSAN, assert_wrong_expectation_fails, make

pytestmark = [needs.cc]


def _winograd_cnn():
    """3x3 stride-1 layers of every case the kernel distinguishes: signed 8-bit inputs (the model's
    own) and unsigned ones (after a ReLU), padded and unpadded, odd output rows and columns (tiles
    past the map's edge), an odd input channel count (17: a zero pad plane and zero weights), odd
    output channel counts (an odd last row of the products), signed and unsigned outputs; a dense
    head."""
    import torch
    from torch import nn

    torch.manual_seed(13)
    model = nn.Sequential(nn.Conv2d(16, 17, 3, padding=1),
                          nn.Conv2d(17, 16, 3), nn.ReLU(),
                          nn.Conv2d(16, 5, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(5 * 9 * 11, 4)).eval()
    return wqrc.from_torch(model, torch.rand(1, 16, 11, 13)), (16, 11, 13)


def _generate(tmp_path, scheme, bits, u_limit=None, monkeypatch=None):
    if u_limit:  # blocks of 4 output channels, a last block of 1
        monkeypatch.setattr(c_backend, "WINO_U_LIMIT", u_limit)
    g, shape = _winograd_cnn()
    calib = np.random.default_rng(17).uniform(-1, 1, (32,) + shape).astype(np.float32)
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, act_bits=8, calib=calib, exponent=TARGET_RULE)
    out = tmp_path / "wino"
    generate_c(qm, pack(qm), str(out), vectors=5, data=calib[:8])
    return qm, out


def _wino_layers(out) -> int:
    model_c = (out / "wqrc_model.c").read_text()
    return model_c.count("wqrc_wino_s8_s8(") + model_c.count("wqrc_wino_s8_u8(") + model_c.count("wqrc_wino_u8_u8(")


@pytest.mark.parametrize("scheme,bits,u_limit", [("dfp", 8, None), ("dfp", 8, 1152), ("dfp", 4, 1152),
                                                 ("po2", 4, None), ("po2", 3, 1152)])
def test_winograd_kernel_on_the_host_equals_simulator(tmp_path, monkeypatch, scheme, bits, u_limit):
    _, out = _generate(tmp_path, scheme, bits, u_limit, monkeypatch)
    assert _wino_layers(out) == 3, "every 3x3 layer should take the Winograd kernel"
    res = make(out, "run", UBSAN)
    assert res.returncode == 0 and "PASS: 5 test vectors" in res.stdout, res.stdout + res.stderr


@needs.arm
@pytest.mark.slow
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m55"])
@pytest.mark.parametrize("scheme,bits,u_limit", [("dfp", 8, 1152), ("po2", 4, None)])
def test_winograd_kernel_on_cortex_m_equals_simulator(tmp_path, monkeypatch, cpu, scheme, bits, u_limit):
    _, out = _generate(tmp_path, scheme, bits, u_limit, monkeypatch)
    assert _wino_layers(out) == 3
    res = make(out, "mcu-run", f"CPU={cpu}")
    assert res.returncode == 0 and "PASS: 5 test vectors" in res.stdout, res.stdout + res.stderr
    if cpu == "cortex-m4":
        assert_wrong_expectation_fails(out, "mcu-run", f"CPU={cpu}")


def _geometry(in_c=16, out_h=8, out_w=8, k=3, stride=1):
    return dict(k_h=k, k_w=k, stride_h=stride, stride_w=stride, dil_h=1, dil_w=1, in_c=in_c, out_h=out_h,
                out_w=out_w)


def test_winograd_only_where_exact_and_worth_it():
    small = np.ones((8, 16, 3, 3), np.int64) * 100
    assert c_backend._winograd_fits(_geometry(), "u8", small)
    assert c_backend._winograd_fits(_geometry(), "s8", small)
    # a Po2-5 multiplier 2^14: U's middle element is the sum of nine, past q15
    big = small.copy()
    big[3, 5] = 1 << 14
    assert not c_backend._winograd_fits(_geometry(), "u8", big)
    # |U| within q15, but the products' sums over 64 channels past 2^31 / 9
    wide = np.full((8, 64, 3, 3), 3000, np.int64)
    assert int(np.abs(np.einsum("ak,ockl,bl->ocab", c_backend.WINO_G2, wide, c_backend.WINO_G2)).max()) <= 32767
    assert not c_backend._winograd_fits(_geometry(in_c=64), "u8", wide)
    assert not c_backend._winograd_fits(_geometry(), "s16", small)                 # 16-bit inputs
    assert not c_backend._winograd_fits(_geometry(stride=2), "u8", small)          # stride 2
    assert not c_backend._winograd_fits(_geometry(k=5), "u8", np.ones((8, 16, 5, 5), np.int64))
    assert not c_backend._winograd_fits(_geometry(in_c=3), "u8", small[:, :3])     # too few channels
    assert not c_backend._winograd_fits(_geometry(out_h=7, out_w=7), "u8", small)  # too few outputs


def test_winograd_transform_is_exact_in_integers():
    """The transforms as the kernel computes them (U = G' g G'^T, V = B^T d B, 4y = A^T (U . V) A)
    give 4 times the direct 3x3 correlation of a 4x4 tile, on random integers."""
    rng = np.random.default_rng(0)
    bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
    at = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])
    for _ in range(200):
        g = rng.integers(-128, 128, (3, 3))
        d = rng.integers(-128, 256, (4, 4))
        u = c_backend.WINO_G2 @ g @ c_backend.WINO_G2.T
        y4 = at @ (u * (bt @ d @ bt.T)) @ at.T
        direct = np.array([[(d[i:i + 3, j:j + 3] * g).sum() for j in range(2)] for i in range(2)])
        assert (y4 == 4 * direct).all()
