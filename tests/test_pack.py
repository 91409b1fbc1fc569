"""docs/format.md §4: ROM packing round-trips, for every bit-width and word width, codes straddling words."""
import json

import numpy as np
import pytest
import torch

import wqrc
from wqrc.pack import pack, pack_codes, unpack_codes, unpack_layer, write_rom_files
from wqrc.pack.files import read_bin, read_mem

from conftest import build


def test_pack_by_hand():
    # codes 1, 2 (3 bits each), LSB first: bits 1,0,0, 0,1,0 -> 0b010001 = 0x11
    assert pack_codes(np.array([1, 2]), 3, 8).tolist() == [0x11]
    # 8 codes of 3 bits straddle the byte boundary: 24 bits = 3 bytes
    words = pack_codes(np.arange(8), 3, 8)
    assert words.tolist() == [0x88, 0xC6, 0xFA]
    assert pack_codes(np.array([0xF]), 4, 16).tolist() == [0xF]


@pytest.mark.parametrize("word_bits", [8, 16, 32, 64])
@pytest.mark.parametrize("bits", list(range(2, 17)))
def test_roundtrip_every_width(bits, word_bits):
    rng = np.random.default_rng(bits * 100 + word_bits)
    codes = rng.integers(0, 2 ** bits, 97).astype(np.uint32)  # 97 codes: straddles and a padded tail
    words = pack_codes(codes, bits, word_bits)
    assert len(words) == -(-97 * bits // word_bits)
    assert int(words.max()) < 2 ** word_bits
    assert np.array_equal(unpack_codes(words, bits, 97, word_bits), codes)
    tail_bits = len(words) * word_bits - 97 * bits
    if tail_bits:
        assert int(words[-1]) >> (word_bits - tail_bits) == 0  # padding bits are 0


@pytest.mark.parametrize("scheme,bits", [("dfp", 3), ("dfp", 5), ("dfp", 12), ("po2", 2), ("po2", 5)])
@pytest.mark.parametrize("word_bits", [8, 32, 64])
def test_model_rom_files_decode_to_the_quantizer_codes(scheme, bits, word_bits, tmp_path):
    m, shape = build("residual")
    g = wqrc.from_torch(m, torch.rand((1,) + shape))
    qm = wqrc.quantize(g, scheme=scheme, bits=bits, calib=np.random.rand(16, *shape).astype(np.float32))
    rom = pack(qm, word_bits)
    write_rom_files(rom, str(tmp_path))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["word_bits"] == word_bits
    words_bin = read_bin(str(tmp_path / "weights.bin"), word_bits)
    words_mem = read_mem(str(tmp_path / "weights.mem"))
    assert np.array_equal(words_bin, rom.words) and np.array_equal(words_mem, rom.words)
    coe = (tmp_path / "weights.coe").read_text()
    assert "memory_initialization_radix=16;" in coe and coe.count(",") == len(rom.words) - 1
    assert f"WIDTH={word_bits};" in (tmp_path / "weights.mif").read_text()
    offset = 0
    for seg, (node, layer) in zip(manifest["layers"], qm.weighted()):
        assert seg["name"] == layer.name and seg["word_offset"] == offset  # graph order, word aligned
        assert seg["codes"] == layer.codes.size and seg["zero_codes"] == layer.zero_codes
        assert seg["exponent"] == layer.exponent and seg["bits"] == bits and seg["scheme"] == scheme
        words = words_bin[seg["word_offset"]: seg["word_offset"] + seg["word_count"]]
        codes = unpack_codes(words, seg["bits"], seg["codes"], word_bits).reshape(seg["shape"])
        assert np.array_equal(codes, layer.codes)
        offset += seg["word_count"]
    assert all(np.array_equal(unpack_layer(rom, s), qm.layers[s.name].codes) for s in rom.segments)
