/*
 * wqrc runtime, SIMD: q15 pairs, the dual MAC (SMLAD where the core has the DSP
 * extension, its C equivalent elsewhere), SXTB16 for 8-bit codes, and the dual-MAC
 * kernel's inner products over decoded rows.
 */
#ifndef WQRC_SIMD_H
#define WQRC_SIMD_H

#include "wqrc_types.h"

/* Two adjacent q15 values as one word (a single LDR on Cortex-M; alignment-free). */
static inline int32_t wqrc_q15x2(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/*
 * acc + lo(a) * lo(b) + hi(a) * hi(b) on q15 halves: one SMLAD where the core has the
 * DSP extension (Cortex-M4/M7/M33), the same sum in plain C elsewhere. Either byte
 * order pairs the same halves of a and b, so the sum is the same.
 */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
static inline int32_t wqrc_smlad(int32_t a, int32_t b, int32_t acc)
{
    return __smlad(a, b, acc);
}
/* acc + lo(k) * lo(x) and acc + hi(k) * lo(x): one SMLABB / SMLATB; two q15 weights
 * share a register, which the compiler cannot unpack behind these intrinsics */
static inline int32_t wqrc_mla_lo(int32_t k, int32_t x, int32_t acc)
{
    return __smlabb(k, x, acc);
}
static inline int32_t wqrc_mla_hi(int32_t k, int32_t x, int32_t acc)
{
    return __smlatb(k, x, acc);
}
#else
static inline int32_t wqrc_smlad(int32_t a, int32_t b, int32_t acc)
{
    return acc + (int32_t)(int16_t)a * (int16_t)b + (a >> 16) * (b >> 16);
}
static inline int32_t wqrc_mla_lo(int32_t k, int32_t x, int32_t acc)
{
    return acc + (int32_t)(int16_t)k * (int16_t)x;
}
static inline int32_t wqrc_mla_hi(int32_t k, int32_t x, int32_t acc)
{
    return acc + (k >> 16) * (int16_t)x;
}
#endif

/* Token pasting for the names of per-type kernel instances (wqrc_maxpool_u8, ...). */
#define WQRC_CAT_(a, b) a##b
#define WQRC_CAT(a, b) WQRC_CAT_(a, b)

/* Word alignment for q15 scratch that is read two words at a time (LDRD faults unaligned). */
#if defined(__GNUC__)
#define WQRC_ALIGN4 __attribute__((aligned(4)))
#else
#define WQRC_ALIGN4
#endif

/*
 * WQRC_SIMD_S8: the core has SXTB16 (DSP extension) and stores words little-endian, so
 * the bytes of a ROM word are its 8-bit codes in order (LSB first), and one SXTB16
 * sign-extends two of them into q15 halves. Kernels use it for DFP-8 weights.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WQRC_LITTLE_ENDIAN 1
#else
#define WQRC_LITTLE_ENDIAN 0
#endif
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && WQRC_LITTLE_ENDIAN
#define WQRC_SIMD_S8 1
/* bytes 0 and 2 of w as q15 halves; wqrc_sxtb16_hi: bytes 1 and 3 */
static inline int32_t wqrc_sxtb16_lo(uint32_t w)
{
    return __sxtb16((int32_t)w);
}
static inline int32_t wqrc_sxtb16_hi(uint32_t w)
{
#if defined(__GNUC__) && !defined(__clang__)
    int32_t r; /* the rotation is SXTB16's own operand; GCC does not fold a separate ROR into it */
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
#else
    return __sxtb16((int32_t)((w >> 8) | (w << 24)));
#endif
}
/* bytes 0 and 2 of w zero-extended into q15 halves; wqrc_uxtb16_hi: bytes 1 and 3 */
static inline int32_t wqrc_uxtb16_lo(uint32_t w)
{
    return (int32_t)__uxtb16(w);
}
static inline int32_t wqrc_uxtb16_hi(uint32_t w)
{
#if defined(__GNUC__) && !defined(__clang__)
    int32_t r; /* (as wqrc_sxtb16_hi) */
    __asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
#else
    return (int32_t)__uxtb16((w >> 8) | (w << 24));
#endif
}
/* acc + lo(k) * hi(x) and acc + hi(k) * hi(x): SMLABT / SMLATT (wqrc_mla_lo/hi take lo(x)) */
static inline int32_t wqrc_mla_lo_top(int32_t k, int32_t x, int32_t acc)
{
    return __smlabt(k, x, acc);
}
static inline int32_t wqrc_mla_hi_top(int32_t k, int32_t x, int32_t acc)
{
    return __smlatt(k, x, acc);
}
/* halfwise a + b and a - b of q15 pairs (SADD16 / SSUB16; the Winograd kernel's transforms,
 * whose terms stay far inside q15) */
static inline int32_t wqrc_sadd16(int32_t a, int32_t b)
{
    return (int32_t)__sadd16(a, b);
}
static inline int32_t wqrc_ssub16(int32_t a, int32_t b)
{
    return (int32_t)__ssub16(a, b);
}
/* (lo(a), lo(b)) and (hi(a), hi(b)) as q15 pairs: one PKHBT / PKHTB each */
static inline int32_t wqrc_pack_lo(int32_t a, int32_t b)
{
#if defined(__GNUC__)
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16));
#endif
}
static inline int32_t wqrc_pack_hi(int32_t a, int32_t b)
{
#if defined(__GNUC__)
    int32_t r;
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((uint32_t)a >> 16) | ((uint32_t)b & 0xFFFF0000u));
#endif
}
#else
#define WQRC_SIMD_S8 0
#endif

/* A pair of rows' sums for a pair of positions into acc (the second row's only if it exists). */
static inline void wqrc_store2x2(int32_t *acc, int32_t s00, int32_t s01, int32_t s10, int32_t s11, int32_t pair)
{
    acc[0] = s00;
    acc[1] = s01;
    if (pair) {
        acc[2] = s10;
        acc[3] = s11;
    }
}

/*
 * The dual-MAC kernel's inner products for one pair of input positions: every row of
 * a decoded block (nrows q15 rows of `stride` elements, stride even) with both
 * positions' columns, interleaved by pairs (ab: a0 a1 b0 b1 a2 a3 ...). Two rows at a
 * time (an odd last row is computed twice, stored once); acc[2r] and acc[2r+1] get
 * row r's sums for positions a and b, started at bias[r]. A function of its own, not
 * inlined, so that its loop has every register to itself: inside the kernel's loop
 * nest the compiler spilled the pointers to the stack.
 */
#if defined(__GNUC__)
#define WQRC_OUT_OF_LINE static __attribute__((noinline, unused))
#else
#define WQRC_OUT_OF_LINE static inline
#endif

/* rows of `bytes` bytes from consecutive rows at `from` into rows `to_step` bytes apart (a
 * padded plane's middle). A row of 4 to 8 bytes is two word copies, its first four bytes and
 * its last four (overlapping where it is shorter than 8): for the small maps of keyword spotting
 * (DS-CNN: 5-byte rows) a call of memcpy per row costs five times the copy. Out of line, so that
 * the loop's pointers stay in registers. */
WQRC_OUT_OF_LINE void wqrc_copy_rows(uint8_t *to, int32_t to_step, const uint8_t *from, int32_t bytes, int32_t rows)
{
    if (bytes >= 4 && bytes <= 8) {
        for (; rows > 0; --rows, to += to_step, from += bytes) {
            uint32_t first, last;
            memcpy(&first, from, sizeof first);
            memcpy(&last, from + bytes - 4, sizeof last);
            memcpy(to, &first, sizeof first);
            memcpy(to + bytes - 4, &last, sizeof last);
        }
        return;
    }
    for (; rows > 0; --rows, to += to_step, from += bytes) {
        memcpy(to, from, (size_t)bytes);
    }
}
/* The steps of one pair of rows against one pair of positions (the locals w0, w1, x, n and the
 * sums s00 .. s11 of the function it is written in): n q15 pairs of each row against both
 * positions' pairs, 4 loads and 4 SMLAD for 8 MACs a step */
#define WQRC_STEP2X2                                                \
    do {                                                            \
        const int32_t u = wqrc_q15x2(w0), v = wqrc_q15x2(w1);       \
        const int32_t a = wqrc_q15x2(x), b = wqrc_q15x2(x + 2);     \
        s00 = wqrc_smlad(u, a, s00);                                \
        s01 = wqrc_smlad(u, b, s01);                                \
        s10 = wqrc_smlad(v, a, s10);                                \
        s11 = wqrc_smlad(v, b, s11);                                \
        w0 += 2;                                                    \
        w1 += 2;                                                    \
        x += 4;                                                     \
    } while (0)
#if WQRC_SIMD_S8 && defined(__GNUC__)
/* the loop written out: GCC does not use post-increment addressing here and spends three ADDs
 * per step; 24 loads + 32 SMLAD + SUBS/BNE = 58 instructions for 64 MACs (x is word-aligned, as
 * LDRD needs: WQRC_ALIGN4). Eight steps a turn; a count that is not a multiple of eight enters
 * the first turn part-way (Duff's device: each step is 7 instructions of 4 bytes, 28; the
 * assembler checks it), so no step runs outside the loop */
#define WQRC_DOT2X2_STEPS                                                                                     \
    do {                                                                                                      \
        if (n > 0) {                                                                                          \
            const int32_t skip = (8 - (n & 7)) & 7;                                                           \
            int32_t u, v, a, b;                                                                               \
            n = (n + 7) >> 3;                                                                                 \
            __asm__ volatile(                                                                                 \
                "cbz    %[skip], 1f\n\t"                                                                      \
                "adr.w  %[u], 1f\n\t"                                                                         \
                "add.w  %[u], %[u], %[skip], lsl #5\n\t"                                                      \
                "sub.w  %[u], %[u], %[skip], lsl #2\n\t"                                                      \
                "orr.w  %[u], %[u], #1\n\t"                                                                   \
                "bx     %[u]\n\t"                                                                             \
                ".p2align 2\n"                                                                                \
                "1:\n\t"                                                                                      \
                ".rept 8\n\t"                                                                                 \
                "ldr.w  %[u], [%[w0]], #4\n\t"                                                                \
                "ldr.w  %[v], [%[w1]], #4\n\t"                                                                \
                "ldrd   %[a], %[b], [%[x]], #8\n\t"                                                           \
                "smlad  %[s00], %[u], %[a], %[s00]\n\t"                                                       \
                "smlad  %[s01], %[u], %[b], %[s01]\n\t"                                                       \
                "smlad  %[s10], %[v], %[a], %[s10]\n\t"                                                       \
                "smlad  %[s11], %[v], %[b], %[s11]\n\t"                                                       \
                ".endr\n"                                                                                     \
                "2:\n\t"                                                                                      \
                ".if (2b - 1b) - 8 * 28\n\t"                                                                  \
                ".error \"wqrc_dot2x2: a step is not 28 bytes\"\n\t"                                          \
                ".endif\n\t"                                                                                  \
                "subs   %[n], %[n], #1\n\t"                                                                   \
                "bne    1b\n\t"                                                                               \
                : [w0] "+r"(w0), [w1] "+r"(w1), [x] "+r"(x), [n] "+r"(n), [s00] "+r"(s00), [s01] "+r"(s01),  \
                  [s10] "+r"(s10), [s11] "+r"(s11), [u] "=&r"(u), [v] "=&r"(v), [a] "=&r"(a), [b] "=&r"(b)  \
                : [skip] "l"(skip)                                                                            \
                : "cc", "memory");                                                                            \
        }                                                                                                     \
    } while (0)
#else
#define WQRC_DOT2X2_STEPS   \
    do {                    \
        for (; n > 0; --n) { \
            WQRC_STEP2X2;   \
        }                   \
    } while (0)
#endif

WQRC_OUT_OF_LINE void wqrc_dot2x2_rows(const int16_t *rows, int32_t stride, int32_t nrows, const int16_t *ab,
                                       const int32_t *bias, int32_t *acc)
{
    const int16_t *w0 = rows;
    int32_t left;
    for (left = nrows; left > 0; left -= 2) {
        /* (the next pair's first row is where this pair's second one ends: few values live
         * across the loop, so that GCC keeps them in registers beside the assembly's) */
        const int32_t pair = left > 1;
        const int16_t *w1 = pair ? w0 + stride : w0, *x = ab;
        int32_t s00 = bias[0], s01 = s00, s10 = bias[pair], s11 = s10, n = stride >> 1;
        WQRC_DOT2X2_STEPS;
        wqrc_store2x2(acc, s00, s01, s10, s11, pair);
        acc += 4;
        bias += 2;
        w0 = w1;
    }
}

/*
 * The Winograd kernel's element-wise products (hw/c/kernels/wino.h.j2), count of them in one
 * call, each as wqrc_dot2x2_rows with every sum started at zero: product k's nrows rows follow
 * product k-1's (rows + k * nrows * stride), its interleaved pair of columns is at
 * ab + k * 2 * stride, its sums at acc + k * 2 * nre (nre: nrows rounded up to even). One call
 * instead of sixteen, and no start values to load: a product of a small layer is only a few
 * steps a row pair.
 */
WQRC_OUT_OF_LINE void wqrc_dot2x2_products(const int16_t *rows, int32_t stride, int32_t nrows, const int16_t *ab,
                                           int32_t count, int32_t *acc)
{
    const int16_t *w0 = rows;
    if ((nrows & 1) == 0) { /* (the usual case, without the odd row's test: fewer values live) */
        const int32_t pairs = nrows >> 1;
        for (; count > 0; --count, ab += 2 * stride) {
            int32_t left;
            for (left = pairs; left > 0; --left) {
                const int16_t *w1 = w0 + stride, *x = ab;
                int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0, n = stride >> 1;
                WQRC_DOT2X2_STEPS;
                acc[0] = s00;
                acc[1] = s01;
                acc[2] = s10;
                acc[3] = s11;
                acc += 4;
                w0 = w1;
            }
        }
        return;
    }
    for (; count > 0; --count, ab += 2 * stride) {
        int32_t left;
        for (left = nrows; left > 0; left -= 2) {
            const int32_t pair = left > 1;
            const int16_t *w1 = pair ? w0 + stride : w0, *x = ab;
            int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0, n = stride >> 1;
            WQRC_DOT2X2_STEPS;
            wqrc_store2x2(acc, s00, s01, s10, s11, pair);
            acc += 4;
            w0 = w1;
        }
    }
}

/*
 * The dual-MAC kernel's inner products for small fans (stride <= 10 q15, a 3x3 window
 * of one channel): one decoded row against npairs pairs of positions gathered one after
 * another (each pair as wqrc_dot2x2_rows reads it: a0 a1 b0 b1 a2 a3 ...), into acc
 * (2 sums per pair, started at bias). The row's q15 pairs are loaded once into locals,
 * which the compiler keeps in registers over the whole run: per pair of positions then
 * stride/2 column loads and SMLADs for each position, nothing for the weights.
 */
#define WQRC_RR_STEP(k)                                               \
    s0 = wqrc_smlad(u##k, wqrc_q15x2(ab + 4 * (k)), s0);              \
    s1 = wqrc_smlad(u##k, wqrc_q15x2(ab + 4 * (k) + 2), s1)
#define WQRC_RR_LOOP(K, STEPS)                                        \
    for (n = npairs; n > 0; --n) {                                    \
        int32_t s0 = bias, s1 = bias;                                 \
        STEPS;                                                        \
        acc[0] = s0;                                                  \
        acc[1] = s1;                                                  \
        acc += 2;                                                     \
        ab += 4 * (K);                                                \
    }
WQRC_OUT_OF_LINE void wqrc_dot_row_run(const int16_t *row, int32_t stride, const int16_t *ab, int32_t npairs,
                                       int32_t bias, int32_t *acc)
{
    /* the row's q15 pairs in named locals and every step written out: an array or an inner
     * loop here made GCC keep the weights on the stack */
    const int32_t u0 = wqrc_q15x2(row), u1 = stride > 2 ? wqrc_q15x2(row + 2) : 0;
    const int32_t u2 = stride > 4 ? wqrc_q15x2(row + 4) : 0, u3 = stride > 6 ? wqrc_q15x2(row + 6) : 0;
    const int32_t u4 = stride > 8 ? wqrc_q15x2(row + 8) : 0;
    int32_t n;
#if WQRC_SIMD_S8 && defined(__GNUC__)
    if ((stride >> 1) == 5) {
        /* a 3x3 window of one channel, written out: per pair of positions 5 LDRD (a column
         * pair of both positions each; ab is word-aligned) + 10 SMLAD + STRD + SUBS/BNE, where
         * GCC's own code took two LDRs per pair */
        int32_t s0, s1, a, b;
        n = npairs;
        __asm__ volatile(
            "1:\n\t"
            "mov   %[s0], %[bias]\n\t"
            "mov   %[s1], %[bias]\n\t"
            "ldrd  %[a], %[b], [%[x]], #8\n\t"
            "smlad %[s0], %[u0], %[a], %[s0]\n\t"
            "smlad %[s1], %[u0], %[b], %[s1]\n\t"
            "ldrd  %[a], %[b], [%[x]], #8\n\t"
            "smlad %[s0], %[u1], %[a], %[s0]\n\t"
            "smlad %[s1], %[u1], %[b], %[s1]\n\t"
            "ldrd  %[a], %[b], [%[x]], #8\n\t"
            "smlad %[s0], %[u2], %[a], %[s0]\n\t"
            "smlad %[s1], %[u2], %[b], %[s1]\n\t"
            "ldrd  %[a], %[b], [%[x]], #8\n\t"
            "smlad %[s0], %[u3], %[a], %[s0]\n\t"
            "smlad %[s1], %[u3], %[b], %[s1]\n\t"
            "ldrd  %[a], %[b], [%[x]], #8\n\t"
            "smlad %[s0], %[u4], %[a], %[s0]\n\t"
            "smlad %[s1], %[u4], %[b], %[s1]\n\t"
            "strd  %[s0], %[s1], [%[acc]], #8\n\t"
            "subs  %[n], %[n], #1\n\t"
            "bne   1b\n\t"
            : [x] "+r"(ab), [acc] "+r"(acc), [n] "+r"(n), [s0] "=&r"(s0), [s1] "=&r"(s1), [a] "=&r"(a),
              [b] "=&r"(b)
            : [u0] "r"(u0), [u1] "r"(u1), [u2] "r"(u2), [u3] "r"(u3), [u4] "r"(u4), [bias] "r"(bias)
            : "cc", "memory");
        return;
    }
#endif
    switch (stride >> 1) {
    case 1:
        WQRC_RR_LOOP(1, WQRC_RR_STEP(0))
        break;
    case 2:
        WQRC_RR_LOOP(2, WQRC_RR_STEP(0); WQRC_RR_STEP(1))
        break;
    case 3:
        WQRC_RR_LOOP(3, WQRC_RR_STEP(0); WQRC_RR_STEP(1); WQRC_RR_STEP(2))
        break;
    case 4:
        WQRC_RR_LOOP(4, WQRC_RR_STEP(0); WQRC_RR_STEP(1); WQRC_RR_STEP(2); WQRC_RR_STEP(3))
        break;
    default:
        WQRC_RR_LOOP(5, WQRC_RR_STEP(0); WQRC_RR_STEP(1); WQRC_RR_STEP(2); WQRC_RR_STEP(3); WQRC_RR_STEP(4))
        break;
    }
}
#undef WQRC_RR_LOOP
#undef WQRC_RR_STEP

#if WQRC_SIMD_S8 && defined(__GNUC__) && WQRC_USE_S8_ROWS
/*
 * The DFP-8 form of wqrc_dot2x2_rows, for DSP cores: the weights are not decoded at
 * all but read from flash four codes at a time (rom8: the layer's codes as bytes, row
 * r at r * fan) and widened in registers by SXTB16, as CMSIS-NN's s8 kernels do. The
 * columns are stored to match: per group of four inputs (a0 a2)(a1 a3)(b0 b2)(b1 b3),
 * then the fan % 4 last inputs as (a b) pairs. 66 instructions for 64 MACs.
 */
WQRC_OUT_OF_LINE void wqrc_dot2x2_s8rows(const unsigned char *rom8, int32_t fan, int32_t nrows, const int16_t *cols,
                                         const int32_t *bias, int32_t *acc)
{
    const int32_t groups = fan >> 2, tail = fan & 3;
    int32_t left;
    for (left = nrows; left > 0; left -= 2, rom8 += 2 * fan) { /* (few values live across it) */
        const int32_t pair = left > 1;
        const unsigned char *r0 = rom8, *r1 = pair ? r0 + fan : r0;
        const int16_t *x = cols;
        int32_t s00 = bias[0], s01 = s00, s10 = bias[pair], s11 = s10, n = groups, i;
        if (n > 0) {
            /* four groups of four inputs a turn: 66 instructions for 64 MACs; a count of groups
             * that is not a multiple of four enters the first turn part-way (each group is 16
             * instructions of 4 bytes, 64; the assembler checks it), as wqrc_dot2x2_rows does */
            int32_t w = (4 - (n & 3)) & 3, t, a02, a13, b02, b13; /* w: the groups skipped, at first */
            n = (n + 3) >> 2;
            __asm__ volatile(
                "cbz    %[w], 1f\n\t"
                "adr.w  %[t], 1f\n\t"
                "add.w  %[t], %[t], %[w], lsl #6\n\t"
                "orr.w  %[t], %[t], #1\n\t"
                "bx     %[t]\n\t"
                ".p2align 2\n"
                "1:\n\t"
                ".rept 4\n\t"
                "ldr.w  %[w], [%[r0]], #4\n\t"
                "ldrd   %[a02], %[a13], [%[x]], #8\n\t"
                "ldrd   %[b02], %[b13], [%[x]], #8\n\t"
                "sxtb16 %[t], %[w]\n\t"
                "sxtb16 %[w], %[w], ror #8\n\t"
                "smlad  %[s00], %[t], %[a02], %[s00]\n\t"
                "smlad  %[s00], %[w], %[a13], %[s00]\n\t"
                "smlad  %[s01], %[t], %[b02], %[s01]\n\t"
                "smlad  %[s01], %[w], %[b13], %[s01]\n\t"
                "ldr.w  %[w], [%[r1]], #4\n\t"
                "sxtb16 %[t], %[w]\n\t"
                "sxtb16 %[w], %[w], ror #8\n\t"
                "smlad  %[s10], %[t], %[a02], %[s10]\n\t"
                "smlad  %[s10], %[w], %[a13], %[s10]\n\t"
                "smlad  %[s11], %[t], %[b02], %[s11]\n\t"
                "smlad  %[s11], %[w], %[b13], %[s11]\n\t"
                ".endr\n"
                "2:\n\t"
                ".if (2b - 1b) - 4 * 64\n\t"
                ".error \"wqrc_dot2x2_s8rows: a group is not 64 bytes\"\n\t"
                ".endif\n\t"
                "subs   %[n], %[n], #1\n\t"
                "bne    1b\n\t"
                : [r0] "+r"(r0), [r1] "+r"(r1), [x] "+r"(x), [n] "+r"(n), [s00] "+r"(s00), [s01] "+r"(s01),
                  [s10] "+r"(s10), [s11] "+r"(s11), [w] "+&l"(w), [t] "=&r"(t), [a02] "=&r"(a02),
                  [a13] "=&r"(a13), [b02] "=&r"(b02), [b13] "=&r"(b13)
                :
                : "cc", "memory");
        }
        for (i = 0; i < tail; ++i) {
            const int32_t k0 = (int8_t)r0[i], k1 = (int8_t)r1[i];
            s00 += k0 * x[2 * i];
            s01 += k0 * x[2 * i + 1];
            s10 += k1 * x[2 * i];
            s11 += k1 * x[2 * i + 1];
        }
        wqrc_store2x2(acc, s00, s01, s10, s11, pair);
        acc += 4;
        bias += 2;
    }
}
#endif

#endif /* WQRC_SIMD_H */
