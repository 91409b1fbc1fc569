/*
 * wqrc runtime, requantization: the rounding shift, clamps and saturation of
 * docs/format.md section 3, the one copy in C; every kernel requantizes through
 * wqrc_requantize (one accumulator) or WQRC_REQUANT_RUN (a run of them).
 */
#ifndef WQRC_REQUANT_H
#define WQRC_REQUANT_H

#include "wqrc_types.h"

/*
 * The requantization rule of docs/format.md section 3, the one copy in C.
 *
 * rshift_round(v, s) = floor((v + 2^(s-1)) / 2^s) for s >= 1 is computed from
 * t = floor(v / 2^(s-1)) = v >> (s-1) as ceil(t / 2) = (t >> 1) + (t & 1): equal
 * for every v, and no intermediate leaves the accumulator's own range, so the
 * accumulator needs only the bound's width (no rounding half is added). A shift
 * s-1 of at least the width is capped at width-1 (t is then 0 or -1, as the cap
 * gives), so every shift the quantizer can produce is defined.
 * WQRC_RSHIFT_ROUND serves the int32 and the int64 forms.
 */
#define WQRC_FLOOR_SHIFT(v, s, width) ((v) >> ((s) - 1 < (width) - 1 ? (s) - 1 : (width) - 1))
#define WQRC_RSHIFT_ROUND(v, s, width) \
    ((WQRC_FLOOR_SHIFT(v, s, width) >> 1) + (WQRC_FLOOR_SHIFT(v, s, width) & 1))

/*
 * Ties to even instead, for a layer whose imported quantizer rounds so (docs/format.md
 * section 3): rshift_round(v - 1 + bit_s(v), s), bit_s(v) = (v >> s) & 1, s >= 1. Only an
 * exact tie (2k+1) * 2^(s-1) moves: v - 1 takes it down to k, the bit takes an odd k back up.
 * s beyond the width is capped (v >> (width-1) is the sign, then the right bit). The layer's
 * bound keeps v - 1 inside the accumulator type.
 */
#define WQRC_TIES_EVEN(v, s, width) ((v) - 1 + (((v) >> ((s) < (width) - 1 ? (s) : (width) - 1)) & 1))

static inline int64_t wqrc_clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline int32_t wqrc_clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline int32_t wqrc_clip32(int64_t v)
{
    return v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : (int32_t)v);
}

/* clamp(v << k) to [lo, hi] for k >= 1 without forming an out-of-range product:
 * v << k > hi exactly when v > floor(hi / 2^k), and < lo when v < ceil(lo / 2^k). */
static inline int64_t wqrc_shl_sat(int64_t v, int32_t k, int64_t lo, int64_t hi)
{
    const int32_t kc = k > 62 ? 62 : k;
    const int64_t hi_k = k > 62 ? (hi < 0 ? -1 : 0) : (hi >> kc);
    const int64_t lo_k = k > 62 ? (lo > 0 ? 1 : 0) : -((-lo) >> kc);
    if (v > hi_k) {
        return hi;
    }
    if (v < lo_k) {
        return lo;
    }
    return k > 62 ? 0 : v * ((int64_t)1 << kc);  /* here lo <= v << k <= hi */
}

/* sat(rshift_round(acc, sh)) with the fused clamp, for any shift; ties to even where even. */
static inline int64_t wqrc_requant(int64_t acc, int32_t sh, int64_t lo, int64_t hi, int even)
{
    if (sh < 0) {
        return wqrc_shl_sat(acc, -sh, lo, hi);
    }
    if (sh > 0 && even) {
        acc = WQRC_TIES_EVEN(acc, sh, 64);
    }
    return wqrc_clamp(sh > 0 ? WQRC_RSHIFT_ROUND(acc, sh, 64) : acc, lo, hi);
}

/* rshift_round (ties to even where even) of an int32 accumulator, sh >= 0: the rounding
 * half of wqrc_requant32, apart so that the loops below can pair it with either clamp */
static inline int32_t wqrc_round32(int32_t acc, int32_t sh, int even)
{
    if (sh > 0 && even) {
        acc = WQRC_TIES_EVEN(acc, sh, 32);
    }
    return sh > 0 ? WQRC_RSHIFT_ROUND(acc, sh, 32) : acc;
}

/* The same for int32 accumulators and sh >= 0, in 32-bit arithmetic for 32-bit cores;
 * lo and hi are the output bounds clipped to int32. */
static inline int32_t wqrc_requant32(int32_t acc, int32_t sh, int32_t lo, int32_t hi, int even)
{
    return wqrc_clamp32(wqrc_round32(acc, sh, even), lo, hi);
}

/*
 * One accumulator of a conv layer to its output code: wqrc_requantize is the one place a
 * kernel requantizes an accumulator (CMSIS-NN's arm_nn_requantize). Its arguments are
 * explicit: the accumulator, the output channel's shift (WQRC_SH), and the layer's
 * requantization read once into the kernel's locals (a store through an int8 output
 * pointer may alias *p, so fields read in a loop would be reloaded; held in a struct
 * instead, they cost GCC 0.5-1.3 KB of Cortex-M4 code per kernel): narrow (1: the 32-bit
 * form, where the accumulator is int32 and no channel shifts left), the int32 clamp, the
 * tie rule (wqrc_even), and the layer's own wqrc_requant_t, whose int64 clamp the rarely
 * taken 64-bit form reads. The code is returned in 32 bits, the widest output storage
 * (a uint32 output's code wraps into int32 and back at the caller's cast: two's
 * complement, which this runtime requires); a 64-bit result merged from both forms cost
 * 300 bytes more per kernel.
 */
static inline int32_t wqrc_even(const wqrc_requant_t *rq)
{
#if WQRC_USE_HALF_EVEN
    return rq->even;
#else
    (void)rq;
    return 0;   /* every layer rounds ties up (the contract): the ties-to-even step folds away */
#endif
}

static inline int32_t wqrc_requantize(int64_t acc, int32_t sh, int32_t narrow, int32_t lo32, int32_t hi32,
                                      int32_t even, const wqrc_requant_t *rq)
{
    return narrow ? wqrc_requant32((int32_t)acc, sh, lo32, hi32, even)
                  : (int32_t)wqrc_requant(acc, sh, rq->lo, rq->hi, even);
}

/*
 * The clamp of the 8-bit formats as one saturating instruction. Where a layer's bounds
 * are a whole 8-bit range ([-128, 127]; [0, 127], a ReLU into a signed byte; [0, 255]),
 * the clamp is SSAT #8, USAT #7 or USAT #8 on a core with the DSP extension: one
 * instruction, where the compare-and-select takes four to six and a branch that depends
 * on the value. Equal results: a saturation is the clamp to exactly that range. The bit
 * count is an immediate, so a kernel picks the form once per layer (wqrc_sat_kind) and
 * runs its requantization loop once per form (WQRC_SAT_SWITCH); the form is a constant
 * in each copy and wqrc_sat32's switch folds away.
 */
enum { WQRC_SAT_ANY = 0, WQRC_SAT_S8, WQRC_SAT_U7, WQRC_SAT_U8 };

static inline int wqrc_sat_kind(int32_t lo, int32_t hi)
{
    if (lo == -128 && hi == 127) {
        return WQRC_SAT_S8;
    }
    if (lo == 0 && (hi == 127 || hi == 255)) {
        return hi == 127 ? WQRC_SAT_U7 : WQRC_SAT_U8;
    }
    return WQRC_SAT_ANY;
}

static inline int32_t wqrc_sat32(int32_t v, int kind, int32_t lo, int32_t hi)
{
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT && defined(__GNUC__)
    /* the instructions themselves: arm_acle.h's __ssat/__usat assign an unsigned builtin
     * to int32_t, which this build's -Wsign-conversion rejects */
    int32_t r;
    switch (kind) {
    case WQRC_SAT_S8:
        __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(v));
        return r;
    case WQRC_SAT_U7:
        __asm__("usat %0, #7, %1" : "=r"(r) : "r"(v));
        return r;
    case WQRC_SAT_U8:
        __asm__("usat %0, #8, %1" : "=r"(r) : "r"(v));
        return r;
    default:
        return wqrc_clamp32(v, lo, hi);
    }
#else
    (void)kind;
    return wqrc_clamp32(v, lo, hi);
#endif
}

/* LOOP(K): a requantization loop written with wqrc_sat32(v, K, lo, hi), run for the
 * layer's kind with K a constant */
#define WQRC_SAT_SWITCH(kind, LOOP) \
    do { \
        switch (kind) { \
        case WQRC_SAT_S8: LOOP(WQRC_SAT_S8); break; \
        case WQRC_SAT_U7: LOOP(WQRC_SAT_U7); break; \
        case WQRC_SAT_U8: LOOP(WQRC_SAT_U8); break; \
        default: LOOP(WQRC_SAT_ANY); break; \
        } \
    } while (0)

/* count int32 sums at acc into count outputs at yo, one after another, requantized with the
 * clamp of kind K (a LOOP of WQRC_SAT_SWITCH); the common case, a right shift with ties up,
 * in a loop of its own, as a test of the shift per output would cost an instruction each */
#define WQRC_REQUANT_RUN(TOUT, yo, acc, count, sh, even, K, lo, hi) \
    do { \
        int32_t n_; \
        if ((sh) > 0 && !(even)) { \
            for (n_ = (count); n_ > 0; --n_) { \
                *(yo)++ = (TOUT)wqrc_sat32(WQRC_RSHIFT_ROUND(*(acc), (sh), 32), K, lo, hi); \
                ++(acc); \
            } \
        } else { \
            for (n_ = (count); n_ > 0; --n_) { \
                *(yo)++ = (TOUT)wqrc_sat32(wqrc_round32(*(acc)++, (sh), (even)), K, lo, hi); \
            } \
        } \
    } while (0)

/* Move a value to another activation format without saturating (the terms of an add):
 * rshift_round by sh. The compiler checked that every left-shifted term and their sum fit
 * in int64 (wqrc/backend/common.py: check_add_fits). */
static inline int64_t wqrc_shift_to(int64_t v, int32_t sh)
{
    if (sh > 0) {
        return WQRC_RSHIFT_ROUND(v, sh, 64);
    }
    return v * ((int64_t)1 << -sh);
}

/* The same in 32-bit arithmetic, for 16-bit (or narrower) terms moved at most 14 places left:
 * |v << 14| < 2^30, so two such terms and their sum fit int32 (the add kernel's fast path). */
static inline int32_t wqrc_shift_to32(int32_t v, int32_t sh)
{
    if (sh > 0) {
        return WQRC_RSHIFT_ROUND(v, sh, 32);
    }
    return v * ((int32_t)1 << -sh);
}

#endif /* WQRC_REQUANT_H */
