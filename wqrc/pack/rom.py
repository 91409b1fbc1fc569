"""Packing pass: QModel -> bit-packed weight ROM image and layer table (docs/format.md §4).

One segment per weighted layer in graph order, each starting on a word
boundary; inside a segment the layer's b-bit code words follow in C order of
the weight tensor, packed LSB first and continuously (a code may straddle two
words); unused bits at a segment's end are 0. Words are little-endian.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from wqrc.errors import WqrcError
from wqrc.quant.qmodel import QModel

WORD_BITS = (8, 16, 32, 64)


@dataclass
class Segment:
    name: str
    scheme: str
    bits: int
    exponent: int
    n1: int
    shape: tuple[int, ...]
    word_offset: int
    word_count: int
    codes: int
    zero_codes: int
    channel_exponents: Optional[list[int]] = None  # per-channel exponents (docs/format.md §1c)

    def describe(self) -> str:
        """The heading of the segment's words in generated code (hls4ml-style weight headers)."""
        return (f"{self.name}: weight {list(self.shape)}, {self.scheme} b={self.bits}, exponent {self.exponent}, "
                f"{self.codes} codes, {self.zero_codes} zero; words {self.word_offset}.."
                f"{self.word_offset + self.word_count - 1}")

    def to_json(self) -> dict:
        return dict(name=self.name, scheme=self.scheme, bits=self.bits, exponent=self.exponent, n1=self.n1,
                    shape=list(self.shape), word_offset=self.word_offset, word_count=self.word_count,
                    codes=self.codes, zero_codes=self.zero_codes,
                    **({} if self.channel_exponents is None else {"channel_exponents": self.channel_exponents}))


@dataclass
class Rom:
    word_bits: int
    words: np.ndarray          # uint64 values, one per ROM word
    segments: list[Segment]

    def manifest(self) -> dict:
        return {
            "word_bits": self.word_bits,
            "word_count": int(len(self.words)),
            "bit_order": "LSB first, codes continuous within a segment, segments word-aligned",
            "byte_order": "little-endian",
            "code_formats": {
                "dfp": "b-bit two's complement k; weight = k * 2**exponent",
                "po2": "MSB sign (1 = negative), (b-1)-bit m; m = 0 is zero, else weight = +-2**(exponent + m - 1)",
            },
            "channel_exponents": "where a layer lists them, output channel c's weights use channel_exponents[c] "
                                 "in place of exponent",
            "layers": [s.to_json() for s in self.segments],
        }


def check_word_bits(word_bits: int) -> int:
    if word_bits not in WORD_BITS:
        raise WqrcError(f"--word-bits: {word_bits} is not one of {', '.join(map(str, WORD_BITS))}")
    return word_bits


def pack_codes(codes: np.ndarray, bits: int, word_bits: int) -> np.ndarray:
    """Pack b-bit codes LSB first into words (returned as uint64), zero-padded."""
    codes = np.asarray(codes, np.uint64).reshape(-1)
    if codes.size and int(codes.max()) >> bits:
        raise ValueError(f"a code does not fit in {bits} bits")
    bit_array = ((codes[:, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8).reshape(-1)
    n_words = -(-bit_array.size // word_bits)
    padded = np.zeros(n_words * word_bits, np.uint8)
    padded[: bit_array.size] = bit_array
    as_bytes = np.packbits(padded, bitorder="little")
    return np.frombuffer(as_bytes.tobytes(), dtype=f"<u{word_bits // 8}").astype(np.uint64)


def unpack_codes(words: np.ndarray, bits: int, count: int, word_bits: int) -> np.ndarray:
    """Inverse of :func:`pack_codes` (what a third party decoding the ROM does)."""
    raw = np.asarray(words, np.uint64).astype(f"<u{word_bits // 8}").tobytes()
    bit_array = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")[: count * bits]
    weights = (np.uint64(1) << np.arange(bits, dtype=np.uint64))
    return (bit_array.reshape(count, bits).astype(np.uint64) * weights).sum(axis=1).astype(np.uint32)


def pack(qm: QModel, word_bits: int = 32) -> Rom:
    check_word_bits(word_bits)
    parts, segments, offset = [], [], 0
    for node, layer in qm.weighted():
        words = pack_codes(layer.codes, layer.bits, word_bits)
        segments.append(Segment(layer.name, layer.scheme, layer.bits, layer.exponent, layer.n1,
                                tuple(layer.codes.shape), offset, len(words), layer.weight_count, layer.zero_codes,
                                [int(e) for e in layer.exponents] if layer.per_channel else None))
        parts.append(words)
        offset += len(words)
    words = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    return Rom(word_bits, words, segments)


def unpack_layer(rom: Rom, segment: Segment) -> np.ndarray:
    words = rom.words[segment.word_offset: segment.word_offset + segment.word_count]
    return unpack_codes(words, segment.bits, segment.codes, rom.word_bits).reshape(segment.shape)
