"""Dynamic Fixed Point and Power-of-two weight quantization (docs/format.md §1a, §1b).

A scheme maps float weights and the layer's top exponent ``n1`` to integer
*multipliers* ``c_w`` (what the hardware multiplies or shifts by) at the
layer scale ``2**exponent``, and to the b-bit *code words* stored in ROM.
"""
from __future__ import annotations

import numpy as np

from wqrc.contract.arith import round_half_away

# QONNX metadata naming the layers whose levels are power-of-two ({layer: "po2:4"}): written by
# the QONNX backend, read back by the QONNX frontend
SCHEMES_KEY = "wqrc.schemes"


class DFP:
    name = "dfp"
    multiplies = True    # a weight is a multiplier (a MAC); Po2 weights are shifts
    min_bits, max_bits = 2, 16

    @staticmethod
    def exponent(n1: int, b: int) -> int:
        """e = n1 - (b - 1) (eq. 5-6)."""
        return n1 - (b - 1)

    @staticmethod
    def kmax(b: int) -> int:
        return (1 << (b - 1)) - 1

    @classmethod
    def max_level(cls, n1: int, b: int) -> float:
        return float(np.ldexp(cls.kmax(b), cls.exponent(n1, b)))

    @classmethod
    def levels(cls, n1: int, b: int) -> np.ndarray:
        k = np.arange(-cls.kmax(b), cls.kmax(b) + 1, dtype=np.float64)
        return np.ldexp(k, cls.exponent(n1, b))

    @classmethod
    def multipliers(cls, w: np.ndarray, n1: int, b: int) -> np.ndarray:
        """k = clip(round(w / 2**e), -K, K) as int64."""
        k = round_half_away(np.ldexp(np.asarray(w, np.float64), -cls.exponent(n1, b)))
        return np.clip(k, -cls.kmax(b), cls.kmax(b)).astype(np.int64)

    @staticmethod
    def encode(k: np.ndarray, b: int) -> np.ndarray:
        """b-bit two's complement, as unsigned code words."""
        return (np.asarray(k, np.int64) & ((1 << b) - 1)).astype(np.uint32)

    @staticmethod
    def decode(codes: np.ndarray, b: int) -> np.ndarray:
        c = np.asarray(codes, np.int64)
        return np.where(c >= (1 << (b - 1)), c - (1 << b), c)


class Po2:
    name = "po2"
    multiplies = False   # a weight is a sign and a shift: shift-add hardware, no multiplier
    min_bits, max_bits = 2, 8

    @staticmethod
    def magnitudes(b: int) -> int:
        """M = 2**(b-1) - 1 non-zero magnitudes (2**b - 1 levels, docs/format.md §1b)."""
        return (1 << (b - 1)) - 1

    @classmethod
    def exponent(cls, n1: int, b: int) -> int:
        """n2 = n1 - M + 1: the scale of the smallest magnitude."""
        return n1 - cls.magnitudes(b) + 1

    @staticmethod
    def max_level(n1: int, b: int) -> float:
        return float(np.ldexp(1.0, n1))

    @classmethod
    def levels(cls, n1: int, b: int) -> np.ndarray:
        mags = np.ldexp(1.0, np.arange(cls.exponent(n1, b), n1 + 1))
        return np.concatenate([-mags[::-1], [0.0], mags])

    @classmethod
    def fields(cls, w: np.ndarray, n1: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """(sign, m): nearest level by absolute distance, ties to the larger magnitude."""
        w = np.asarray(w, np.float64)
        n2 = cls.exponent(n1, b)
        a = np.abs(w)
        mant, ex = np.frexp(a)
        k = ex.astype(np.int64) - 1 + (mant >= 0.75)  # nearest power, midpoint 1.5*2**k up
        k = np.clip(k, n2, n1)
        nonzero = a >= np.ldexp(1.0, n2 - 1)
        m = np.where(nonzero, k - n2 + 1, 0).astype(np.int64)
        sign = ((w < 0) & nonzero).astype(np.int64)
        return sign, m

    @classmethod
    def multipliers(cls, w: np.ndarray, n1: int, b: int) -> np.ndarray:
        sign, m = cls.fields(w, n1, b)
        return cls.fields_to_multipliers(sign, m, b)

    @staticmethod
    def fields_to_multipliers(sign: np.ndarray, m: np.ndarray, b: int) -> np.ndarray:
        """±2**(m-1), 0 for m = 0; Python ints (object) when 2**(m-1) needs > 62 bits."""
        if (1 << (b - 1)) - 1 <= 62:
            mag = np.where(m > 0, np.left_shift(np.int64(1), np.maximum(m - 1, 0)), 0)
            return np.where(sign == 1, -mag, mag).astype(np.int64)
        out = np.empty(m.shape, dtype=object)
        flat_s, flat_m, flat_o = sign.reshape(-1), m.reshape(-1), out.reshape(-1)
        for i in range(flat_m.size):
            v = 0 if flat_m[i] == 0 else 1 << int(flat_m[i] - 1)
            flat_o[i] = -v if flat_s[i] else v
        return out

    @staticmethod
    def encode_fields(sign: np.ndarray, m: np.ndarray, b: int) -> np.ndarray:
        return ((np.asarray(sign, np.int64) << (b - 1)) | np.asarray(m, np.int64)).astype(np.uint32)

    @classmethod
    def encode(cls, w: np.ndarray, n1: int, b: int) -> np.ndarray:
        return cls.encode_fields(*cls.fields(w, n1, b), b)

    @classmethod
    def decode(cls, codes: np.ndarray, b: int) -> np.ndarray:
        c = np.asarray(codes, np.int64)
        return cls.fields_to_multipliers(c >> (b - 1), c & ((1 << (b - 1)) - 1), b)


SCHEMES = {"dfp": DFP, "po2": Po2}


def scheme(name: str):
    return SCHEMES[name]
