// wqrc HLS kernels: hand-written, generic over per-layer config structs.
//
// Every loop bound is a compile-time constant of the layer's config struct; no
// recursion, no dynamic memory. With WQRC_USE_AP_TYPES (as for synthesis) the
// types are ap_int/ap_uint of the exact widths (weights b bits, activations a
// bits, accumulators the width the layer's bound needs); without it, the
// smallest standard integer types, so the same source builds with plain g++.
//
// Pragmas and loop labels go through WQRC_PRAGMA and WQRC_LOOP so that Vitis HLS
// sees them (it defines __SYNTHESIS__) and a g++ -Wall -Werror build is not
// stopped by unknown pragmas or unused labels.
#ifndef WQRC_HLS_H
#define WQRC_HLS_H

#include <stdint.h>

#if defined(__SYNTHESIS__) || defined(WQRC_EMIT_PRAGMAS)
#define WQRC_PRAGMA(x) _Pragma(#x)
#define WQRC_LOOP(name) name:
#else
#define WQRC_PRAGMA(x)
#define WQRC_LOOP(name)
#endif

#ifdef WQRC_USE_AP_TYPES
// GCC 12 reports a false "used uninitialized" inside ap_private.h once it inlines
// ap_uint's constructors; the suppression covers Xilinx's header text only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <ap_int.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
template <int N> struct wqrc_sint { typedef ap_int<N> type; };
template <int N> struct wqrc_uint { typedef ap_uint<N> type; };
#else
template <int N> struct wqrc_sint {
    typedef typename wqrc_sint<(N <= 8 ? 8 : N <= 16 ? 16 : N <= 32 ? 32 : 64)>::type type;
};
template <> struct wqrc_sint<8> { typedef int8_t type; };
template <> struct wqrc_sint<16> { typedef int16_t type; };
template <> struct wqrc_sint<32> { typedef int32_t type; };
template <> struct wqrc_sint<64> { typedef int64_t type; };
template <int N> struct wqrc_uint {
    typedef typename wqrc_uint<(N <= 8 ? 8 : N <= 16 ? 16 : N <= 32 ? 32 : 64)>::type type;
};
template <> struct wqrc_uint<8> { typedef uint8_t type; };
template <> struct wqrc_uint<16> { typedef uint16_t type; };
template <> struct wqrc_uint<32> { typedef uint32_t type; };
template <> struct wqrc_uint<64> { typedef uint64_t type; };
#endif

namespace wqrc {

// A b-bit code at bit position pos of one lane's slice of the packed ROM segment
// (LSB first; a code may straddle words). CFG::WORDS_PER_CODE words are read: 1
// when the code width divides the word width (no code straddles), else 2 (or 3 when
// codes are wider than words); the lane's ROM has that many ports or CFG::II says so.
template <class CFG>
uint32_t read_code(const typename CFG::word_t rom[CFG::LANE_WORDS], uint32_t pos) {
    static const int WB = CFG::WORD_BITS;
    const uint32_t w = pos / WB;
    const uint32_t o = pos % WB;
    uint64_t v = 0;
WQRC_LOOP(READ)
    for (int k = 0; k < CFG::WORDS_PER_CODE; ++k) {
        WQRC_PRAGMA(HLS UNROLL)
        const int shift = k * WB - (int)o;
        if (w + (uint32_t)k < (uint32_t)CFG::LANE_WORDS && shift < CFG::BITS) {
            const uint64_t word = (uint64_t)rom[w + (uint32_t)k];
            v |= shift >= 0 ? word << shift : word >> (-shift);
        }
    }
    return (uint32_t)(v & ((1u << CFG::BITS) - 1u));
}

// DFP: a b-bit signed weight times an a-bit activation, a narrow multiply.
template <class CFG>
typename CFG::acc_t dfp_term(typename CFG::in_t x, uint32_t code) {
    typedef typename wqrc_sint<CFG::BITS>::type weight_t;
    const int32_t k = (code >> (CFG::BITS - 1)) ? (int32_t)code - (1 << CFG::BITS) : (int32_t)code;
    const weight_t w = (weight_t)k;
#ifdef WQRC_USE_AP_TYPES  // ap_int products are exact: (a + b) bits
    return (typename CFG::acc_t)(x * w);
#else  // widen first: an int product of a 32-bit activation would overflow
    return (typename CFG::acc_t)x * (typename CFG::acc_t)w;
#endif
}

// Po2: shift-add, no multiplier. The (sign, m) fields select +-(x << (m - 1)).
template <class CFG>
typename CFG::acc_t po2_term(typename CFG::in_t x, uint32_t code) {
    const uint32_t m = code & ((1u << (CFG::BITS - 1)) - 1u);
    const bool negative = (code >> (CFG::BITS - 1)) != 0u;
    if (m == 0u) {
        return 0;
    }
#ifdef WQRC_USE_AP_TYPES
    typename CFG::acc_t v = x;
    v <<= (m - 1u);
#else  // shift as unsigned: a left shift of a negative int is undefined in C++14
    const typename CFG::acc_t v = (typename CFG::acc_t)((uint64_t)(int64_t)x << (m - 1u));
#endif
    return negative ? (typename CFG::acc_t)(-v) : v;
}

// The requantization rule of docs/format.md section 3, the one copy in the HLS kernels.
// rshift_round(v, s) = floor((v + 2^(s-1)) / 2^s), s >= 1, from t = v >> (s-1) as
// ceil(t / 2) = (t >> 1) + (t & 1): equal for every v, no intermediate leaves v's range (so the
// accumulator needs only the bound's width), and s-1 beyond 63 is capped (t is then 0 or -1), so
// every shift the quantizer can produce is defined.
inline int64_t rshift_round(int64_t v, int s) {
    const int64_t t = v >> (s - 1 < 63 ? s - 1 : 63);
    return (t >> 1) + (t & 1);
}

// clamp(v << k) to [lo, hi], k >= 1, without forming an out-of-range product.
inline int64_t shl_sat(int64_t v, int k, int64_t lo, int64_t hi) {
    const int kc = k > 62 ? 62 : k;
    const int64_t hi_k = k > 62 ? (hi < 0 ? -1 : 0) : (hi >> kc);
    const int64_t lo_k = k > 62 ? (lo > 0 ? 1 : 0) : -((-lo) >> kc);
    if (v > hi_k) return hi;
    if (v < lo_k) return lo;
    return k > 62 ? 0 : v * ((int64_t)1 << kc);
}

// Ties to even instead (docs/format.md section 3: a layer whose imported quantizer rounds so):
// rshift_round(v - 1 + bit_s(v), s), bit_s(v) = (v >> s) & 1, s >= 1 (capped at 63, where v >> 63
// is the sign and then the right bit). Only an exact tie moves; the layer's bound keeps v - 1 in range.
inline int64_t ties_even(int64_t v, int s) {
    return v - 1 + ((v >> (s < 63 ? s : 63)) & 1);
}

// sat(rshift_round(acc, sh)) and the fused clamp, for any shift; ties to even where even.
inline int64_t requant(int64_t acc, int shift, int64_t lo, int64_t hi, bool even = false) {
    if (shift < 0) return shl_sat(acc, -shift, lo, hi);
    if (shift > 0) acc = rshift_round(even ? ties_even(acc, shift) : acc, shift);
    return acc < lo ? lo : (acc > hi ? hi : acc);
}

// An add's term moved to the output format (not saturated; the compiler checked that the
// left-shifted terms and their sum fit in int64).
inline int64_t shift_to(int64_t v, int shift) {
    return shift > 0 ? rshift_round(v, shift) : v * ((int64_t)1 << -shift);
}

// Convolution (dense is a 1x1 convolution of a 1x1 map) on CFG::PARALLEL lanes. Lane p
// computes the output channels p*OCL .. p*OCL + OCL-1 (OCL = OUT_C / PARALLEL) and reads
// its codes from rom[p], its own slice of the packer's words (starting base[p] bits
// into the slice's first word), so that one pipelined tap iteration reads each lane ROM
// WORDS_PER_CODE times (ports: rom_1p or rom_2p) and the activation once (the lanes
// share it: grouped convolutions get one lane). That is what makes II = CFG::II hold.
template <class CFG>
void conv(const typename CFG::in_t x[CFG::IN_C * CFG::IN_H * CFG::IN_W],
          typename CFG::out_t y[CFG::OUT_C * CFG::OUT_H * CFG::OUT_W],
          const typename CFG::word_t rom[CFG::PARALLEL][CFG::LANE_WORDS], const uint32_t base[CFG::PARALLEL],
          const typename CFG::bias_t bias[CFG::OUT_C]) {
    static const int CG = CFG::IN_C / CFG::GROUP;
    static const int OG = CFG::OUT_C / CFG::GROUP;
    static const int FAN = CG * CFG::K_H * CFG::K_W;
    static const int P = CFG::PARALLEL;
    static const int OCL = CFG::OUT_C / P;
WQRC_LOOP(CHANNELS)
    for (int j = 0; j < OCL; ++j) {
    WQRC_LOOP(ROWS)
        for (int oy = 0; oy < CFG::OUT_H; ++oy) {
        WQRC_LOOP(COLS)
            for (int ox = 0; ox < CFG::OUT_W; ++ox) {
                typename CFG::acc_t acc[P];
                WQRC_PRAGMA(HLS ARRAY_PARTITION variable = acc complete)
            WQRC_LOOP(INIT)
                for (int p = 0; p < P; ++p) {
                    WQRC_PRAGMA(HLS UNROLL)
                    acc[p] = (typename CFG::acc_t)bias[p * OCL + j];
                }
            WQRC_LOOP(TAPS)
                for (int t = 0; t < FAN; ++t) {
                    WQRC_PRAGMA(HLS PIPELINE II = CFG::II)
                    const int ic = t / (CFG::K_H * CFG::K_W);
                    const int ky = (t / CFG::K_W) % CFG::K_H;
                    const int kx = t % CFG::K_W;
                    const int iy = oy * CFG::STRIDE_H - CFG::PAD_T + ky * CFG::DIL_H;
                    const int ix = ox * CFG::STRIDE_W - CFG::PAD_L + kx * CFG::DIL_W;
                    const bool inside = iy >= 0 && iy < CFG::IN_H && ix >= 0 && ix < CFG::IN_W;
                    const int c = (j / OG) * CG + ic;     // one lane when GROUP > 1, so oc = j
                    const typename CFG::in_t xv = inside ? x[(c * CFG::IN_H + iy) * CFG::IN_W + ix]
                                                         : (typename CFG::in_t)0;
                WQRC_LOOP(PAR)
                    for (int p = 0; p < P; ++p) {
                        WQRC_PRAGMA(HLS UNROLL)
                        const uint32_t code = read_code<CFG>(rom[p], base[p] + (uint32_t)(j * FAN + t) * CFG::BITS);
                        acc[p] += CFG::PO2 ? po2_term<CFG>(xv, code) : dfp_term<CFG>(xv, code);
                    }
                }
            WQRC_LOOP(STORE)
                for (int p = 0; p < P; ++p) {
                    WQRC_PRAGMA(HLS UNROLL)
                    y[((p * OCL + j) * CFG::OUT_H + oy) * CFG::OUT_W + ox] =
                        (typename CFG::out_t)requant((int64_t)acc[p], CFG::shift(p * OCL + j), CFG::LO, CFG::HI, CFG::EVEN);
                }
            }
        }
    }
}

// Max pool (padding never wins) and average pool (exact sum, the contract's divisor rule).
template <class CFG>
void pool(const typename CFG::in_t x[CFG::C * CFG::IN_H * CFG::IN_W],
          typename CFG::out_t y[CFG::C * CFG::OUT_H * CFG::OUT_W]) {
WQRC_LOOP(CHANNELS)
    for (int c = 0; c < CFG::C; ++c) {
    WQRC_LOOP(ROWS)
        for (int oy = 0; oy < CFG::OUT_H; ++oy) {
        WQRC_LOOP(COLS)
            for (int ox = 0; ox < CFG::OUT_W; ++ox) {
                WQRC_PRAGMA(HLS PIPELINE)
                int64_t best = 0, sum = 0;
                int n = 0;
            WQRC_LOOP(WINDOW)
                for (int k = 0; k < CFG::K_H * CFG::K_W; ++k) {
                    const int iy = oy * CFG::STRIDE_H - CFG::PAD_T + (k / CFG::K_W) * CFG::DIL_H;
                    const int ix = ox * CFG::STRIDE_W - CFG::PAD_L + (k % CFG::K_W) * CFG::DIL_W;
                    if (iy >= 0 && iy < CFG::IN_H && ix >= 0 && ix < CFG::IN_W) {
                        const int64_t v = (int64_t)x[(c * CFG::IN_H + iy) * CFG::IN_W + ix];
                        best = (n == 0 || v > best) ? v : best;
                        sum += v;
                        ++n;
                    }
                }
                int64_t out;
                if (CFG::MAX) {
                    out = best;
                } else {
                    const int count = CFG::COUNT_INCLUDE_PAD ? CFG::K_H * CFG::K_W : n;
                    out = requant(sum * CFG::div_r(count), CFG::div_s(count), CFG::LO, CFG::HI);
                }
                y[(c * CFG::OUT_H + oy) * CFG::OUT_W + ox] = (typename CFG::out_t)out;
            }
        }
    }
}

// Residual add: both inputs moved to the output format, summed exactly, saturated, clamped.
template <class TA, class TB, class TOUT, int N>
void add(const TA a[N], int sa, const TB b[N], int sb, TOUT y[N], int64_t lo, int64_t hi) {
WQRC_LOOP(ELEMENTS)
    for (int i = 0; i < N; ++i) {
        WQRC_PRAGMA(HLS PIPELINE)
        const int64_t v = shift_to((int64_t)a[i], sa) + shift_to((int64_t)b[i], sb);
        y[i] = (TOUT)(v < lo ? lo : (v > hi ? hi : v));
    }
}

// Concat part / standalone ReLU or Clip: one input moved to the output format and clamped.
template <class TIN, class TOUT, int N>
void copy(const TIN x[N], int shift, TOUT y[], int64_t lo, int64_t hi) {
WQRC_LOOP(ELEMENTS)
    for (int i = 0; i < N; ++i) {
        WQRC_PRAGMA(HLS PIPELINE)
        y[i] = (TOUT)requant((int64_t)x[i], shift, lo, hi);
    }
}

// Product of two activations (docs/format.md section 3e): b broadcast over each channel's HW
// positions when B_HW = 1 (squeeze-and-excitation); exact in int64 (checked by the compiler).
template <class TA, class TB, class TOUT, int C, int HW, int B_HW>
void mul(const TA a[C * HW], const TB b[C * B_HW], TOUT y[C * HW], int sh, int64_t lo, int64_t hi) {
WQRC_LOOP(CHANNELS)
    for (int c = 0; c < C; ++c) {
    WQRC_LOOP(ELEMENTS)
        for (int i = 0; i < HW; ++i) {
            WQRC_PRAGMA(HLS PIPELINE)
            const int64_t p = (int64_t)a[c * HW + i] * (int64_t)b[c * B_HW + (B_HW == 1 ? 0 : i)];
            y[c * HW + i] = (TOUT)requant(p, sh, lo, hi);
        }
    }
}

// Upsampling (docs/format.md section 3f): nearest-neighbour copies by SH x SW, or (ZEROS) the
// input spread over a (H-1)*SH+1 x (W-1)*SW+1 map of zeros (a transposed convolution's first half).
template <class T, int C, int H, int W, int SH, int SW, bool ZEROS>
void upsample(const T x[C * H * W], T y[]) {
    static const int OH = ZEROS ? (H - 1) * SH + 1 : H * SH;
    static const int OW = ZEROS ? (W - 1) * SW + 1 : W * SW;
WQRC_LOOP(ELEMENTS)
    for (int i = 0; i < C * OH * OW; ++i) {
        WQRC_PRAGMA(HLS PIPELINE)
        const int c = i / (OH * OW), oy = (i / OW) % OH, ox = i % OW;
        const bool on = !ZEROS || (oy % SH == 0 && ox % SW == 0);
        y[i] = on ? x[(c * H + oy / SH) * W + ox / SW] : (T)0;
    }
}

// Constant padding (docs/format.md section 3g): the input placed at (PT, PL) in a
// (H+PT+PB) x (W+PL+PR) map of the code `value`.
template <class T, int C, int H, int W, int PT, int PL, int PB, int PR>
void pad(const T x[C * H * W], T y[], T value) {
    static const int OH = H + PT + PB, OW = W + PL + PR;
WQRC_LOOP(ELEMENTS)
    for (int i = 0; i < C * OH * OW; ++i) {
        WQRC_PRAGMA(HLS PIPELINE)
        const int c = i / (OH * OW), iy = (i / OW) % OH - PT, ix = i % OW - PL;
        y[i] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[(c * H + iy) * W + ix] : value;
    }
}

// Lookup-table activation (docs/format.md section 3d): y = table[x - qmin]; every input
// code lies in [qmin, qmin + T - 1] by its format.
template <class TIN, class TOUT, int N, int T>
void lut(const TIN x[N], const int32_t table[T], int qmin, TOUT y[N]) {
WQRC_LOOP(ELEMENTS)
    for (int i = 0; i < N; ++i) {
        WQRC_PRAGMA(HLS PIPELINE)
        y[i] = (TOUT)table[(int)x[i] - qmin];
    }
}

}  // namespace wqrc

#endif  // WQRC_HLS_H
