/*
 * wqrc runtime: shared types and the requantization step of the numeric contract
 * (docs/format.md). Inference uses only <stdint.h> and <string.h>: no malloc, no
 * float, no other libc.
 *
 * Portability note: C99 leaves right shifts of negative integers and conversions
 * of out-of-range values to signed types implementation-defined. wqrc relies on
 * the two's-complement behaviour every compiler for MCUs and FPGAs implements
 * (GCC, Clang, IAR, Arm Compiler); the check below stops a build where it fails.
 * Left shifts of negative values (undefined) are never used: Po2 shifts operate
 * on unsigned values.
 */
#ifndef WQRC_RT_H
#define WQRC_RT_H

#include <stdint.h>
#include <string.h>

#if ((-1) >> 1) != -1
#error "wqrc needs an arithmetic right shift of negative integers"
#endif

/*
 * Parameter groups, CMSIS-NN style: a layer's struct is made of these, so a kernel
 * reads p->in.c, p->win.k_h or p->rq.shift and each group means one thing.
 */
typedef struct {
    int32_t c, h, w;          /* a map of c channels, h rows, w columns          */
} wqrc_dims_t;

typedef struct {
    int32_t k_h, k_w;         /* kernel (pool window) size                        */
    int32_t stride_h, stride_w, dil_h, dil_w;
    int32_t pad_t, pad_l, pad_b, pad_r;
} wqrc_window_t;

typedef struct {
    const WQRC_WORD_T *rom;   /* first word of the layer's ROM segment          */
    int32_t bits;             /* code width b                                   */
    int32_t po2;              /* 1: sign + magnitude codes (shift-add); 0: DFP  */
} wqrc_codes_t;

typedef struct {
    int32_t shift;            /* requantization shift sh = f_y - (f_x + e_w); with
                               * per-channel exponents the least of the channels' */
    int64_t lo, hi;           /* output saturation and fused clamp              */
    const int16_t *shifts;    /* per-channel exponents: channel c's shift (docs/format.md
                               * section 1c), NULL for one exponent per layer */
    int32_t even;             /* 1: ties round to even (an imported quantizer's rule,
                               * docs/format.md section 3); 0: the contract's ties up */
} wqrc_requant_t;

/* Output channel ch's requantization shift, in a kernel that holds p->rq.shift in a
 * local sh_layer (a store through an int8 output pointer may alias *p, so a field read
 * in the loop would be reloaded); a model without per-channel exponents compiles the
 * table lookup out. */
#if WQRC_USE_CHANNEL_SHIFTS
#define WQRC_SH(p, ch) ((p)->rq.shifts ? (int32_t)(p)->rq.shifts[ch] : sh_layer)
#else
#define WQRC_SH(p, ch) (sh_layer)
#endif

/* A layer's tie rule, read once into a local as p->rq.shift is; a model whose layers all
 * round ties up (the contract) compiles the ties-to-even step out. */
#if WQRC_USE_HALF_EVEN
#define WQRC_EVEN(p) ((p)->rq.even)
#else
#define WQRC_EVEN(p) 0
#endif

/*
 * A layer's scratch, in the model's one arena: the generator sizes each buffer for
 * this layer and places it by liveness beside the layer's own input and output (it
 * lives only while the layer runs); NULL where the layer's kernel needs none.
 */
typedef struct {
    void *pad;                /* zero-padded input map (one channel's, for depthwise) */
    int16_t *wbuf;            /* decoded q15 rows: block x fan rounded up to even      */
    int16_t *cols;            /* gathered input columns: 2 (or chunk) x fan rounded up to even */
    int32_t *gather_off;      /* the window's offsets: fan rounded up to even          */
    int32_t *acc;             /* raw sums: acc_n of them                               */
    int32_t acc_n;
    int32_t *tap_off, *tap_val, *tap_neg; /* tap kernel: the non-zero taps (fan each)  */
} wqrc_scratch_t;

/* One conv or dense layer (dense is a 1x1 convolution on a 1x1 map). */
typedef struct {
    wqrc_dims_t in, out;
    int32_t group;
    wqrc_window_t win;
    wqrc_codes_t w;
    wqrc_requant_t rq;
    const int32_t *bias32;    /* bias at the accumulator scale (one of these)   */
    const int64_t *bias64;
    int32_t block;            /* q15 kernels: output channels decoded at once    */
    int32_t chunk;            /* dual-MAC, small fans: positions gathered at once (0: off) */
    wqrc_scratch_t s;
} wqrc_conv_t;

/* One max, average or global average pool (out.c == in.c). */
typedef struct {
    wqrc_dims_t in, out;
    wqrc_window_t win;
    int32_t count_include_pad;
    const int32_t *div_r;     /* avg pool: R and S for a window of n elements   */
    const int8_t *div_s;      /* (index n), from the contract's divisor rule    */
    int64_t lo, hi;           /* output saturation                              */
} wqrc_pool_t;



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
WQRC_OUT_OF_LINE void wqrc_dot2x2_rows(const int16_t *rows, int32_t stride, int32_t nrows, const int16_t *ab,
                                       const int32_t *bias, int32_t *acc)
{
    int32_t r;
    for (r = 0; r < nrows; r += 2) {
        const int32_t pair = r + 1 < nrows;
        const int16_t *w0 = rows + r * stride, *w1 = pair ? w0 + stride : w0, *x = ab;
        int32_t s00 = bias[r], s01 = s00, s10 = bias[r + pair], s11 = s10, n = stride >> 1;
        /* one q15 pair of each row against both positions' pairs: 4 loads, 4 SMLAD, 8 MACs */
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
        if (n & 1) {
            WQRC_STEP2X2;
        }
        n >>= 1;
#if WQRC_SIMD_S8 && defined(__GNUC__)
        if (n > 0) {
            /* the loop below, written out: GCC does not use post-increment addressing here
             * and spends three ADDs per iteration; 6 loads + 8 SMLAD + SUBS/BNE = 16
             * instructions for 16 MACs (x is word-aligned, as LDRD needs: WQRC_ALIGN4) */
            int32_t u, v, a, b;
            __asm__ volatile(
                "1:\n\t"
                ".rept 2\n\t" /* two steps per count */
                "ldr   %[u], [%[w0]], #4\n\t"
                "ldr   %[v], [%[w1]], #4\n\t"
                "ldrd  %[a], %[b], [%[x]], #8\n\t"
                "smlad %[s00], %[u], %[a], %[s00]\n\t"
                "smlad %[s01], %[u], %[b], %[s01]\n\t"
                "smlad %[s10], %[v], %[a], %[s10]\n\t"
                "smlad %[s11], %[v], %[b], %[s11]\n\t"
                ".endr\n\t"
                "subs  %[n], %[n], #1\n\t"
                "bne   1b\n\t"
                : [w0] "+r"(w0), [w1] "+r"(w1), [x] "+r"(x), [n] "+r"(n), [s00] "+r"(s00), [s01] "+r"(s01),
                  [s10] "+r"(s10), [s11] "+r"(s11), [u] "=&r"(u), [v] "=&r"(v), [a] "=&r"(a), [b] "=&r"(b)
                :
                : "cc", "memory");
        }
#else
        for (; n > 0; --n) { /* two steps per count, as the assembly does */
            WQRC_STEP2X2;
            WQRC_STEP2X2;
        }
#endif
#undef WQRC_STEP2X2
        wqrc_store2x2(acc, s00, s01, s10, s11, pair);
        acc += 4;
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
 * then the fan % 4 last inputs as (a b) pairs. 18 instructions for 16 MACs.
 */
WQRC_OUT_OF_LINE void wqrc_dot2x2_s8rows(const unsigned char *rom8, int32_t fan, int32_t nrows, const int16_t *cols,
                                         const int32_t *bias, int32_t *acc)
{
    const int32_t groups = fan >> 2, tail = fan & 3;
    int32_t r;
    for (r = 0; r < nrows; r += 2) {
        const int32_t pair = r + 1 < nrows;
        const unsigned char *r0 = rom8 + r * fan, *r1 = pair ? r0 + fan : r0;
        const int16_t *x = cols;
        int32_t s00 = bias[r], s01 = s00, s10 = bias[r + pair], s11 = s10, n = groups, i;
        if (n > 0) {
            int32_t w, t, a02, a13, b02, b13;
            __asm__ volatile(
                "1:\n\t"
                "ldr    %[w], [%[r0]], #4\n\t"
                "ldrd   %[a02], %[a13], [%[x]], #8\n\t"
                "ldrd   %[b02], %[b13], [%[x]], #8\n\t"
                "sxtb16 %[t], %[w]\n\t"
                "sxtb16 %[w], %[w], ror #8\n\t"
                "smlad  %[s00], %[t], %[a02], %[s00]\n\t"
                "smlad  %[s00], %[w], %[a13], %[s00]\n\t"
                "smlad  %[s01], %[t], %[b02], %[s01]\n\t"
                "smlad  %[s01], %[w], %[b13], %[s01]\n\t"
                "ldr    %[w], [%[r1]], #4\n\t"
                "sxtb16 %[t], %[w]\n\t"
                "sxtb16 %[w], %[w], ror #8\n\t"
                "smlad  %[s10], %[t], %[a02], %[s10]\n\t"
                "smlad  %[s10], %[w], %[a13], %[s10]\n\t"
                "smlad  %[s11], %[t], %[b02], %[s11]\n\t"
                "smlad  %[s11], %[w], %[b13], %[s11]\n\t"
                "subs   %[n], %[n], #1\n\t"
                "bne    1b\n\t"
                : [r0] "+r"(r0), [r1] "+r"(r1), [x] "+r"(x), [n] "+r"(n), [s00] "+r"(s00), [s01] "+r"(s01),
                  [s10] "+r"(s10), [s11] "+r"(s11), [w] "=&r"(w), [t] "=&r"(t), [a02] "=&r"(a02),
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
    }
}
#endif

/* A b-bit code at bit position pos of a packed segment (LSB first; codes may straddle words). */
static inline uint32_t wqrc_read_code(const WQRC_WORD_T *rom, uint32_t pos, uint32_t bits)
{
    uint32_t w = pos / (uint32_t)WQRC_WORD_BITS;
    uint32_t o = pos % (uint32_t)WQRC_WORD_BITS;
    uint32_t got = 0;
    uint64_t v = 0;
    while (got < bits) {
        v |= ((uint64_t)rom[w] >> o) << got;
        got += (uint32_t)WQRC_WORD_BITS - o;
        o = 0;
        ++w;
    }
    return (uint32_t)(v & ((1u << bits) - 1u));
}

/*
 * Decode output channel oc's codes into the list of its non-zero taps (offsets into
 * an h x w input map): zero codes are skipped, so a zero weight costs no MAC. DFP
 * taps hold k; Po2 taps hold the shift m-1 and a sign mask (0 or -1).
 */
static inline int32_t wqrc_decode_taps(const wqrc_conv_t *p, int32_t oc, int32_t fan, int32_t h, int32_t w)
{
    const uint32_t bits = (uint32_t)p->w.bits;
    const uint32_t sign = 1u << (bits - 1u);
    const uint32_t mask = (1u << bits) - 1u;
    const int32_t step_ky = p->win.dil_h * w;
    const int32_t step_ic = h * w;
    uint32_t pos = (uint32_t)oc * (uint32_t)fan * bits;
    int32_t i, n = 0, ky = 0, kx = 0, off_c = 0, off_y = 0;
#if WQRC_WORD_BITS < 64
    /* a bit buffer refilled a word at a time: never more than 15 + 32 bits held */
    uint32_t word = pos / (uint32_t)WQRC_WORD_BITS;
    uint32_t avail = (uint32_t)WQRC_WORD_BITS - pos % (uint32_t)WQRC_WORD_BITS;
    uint64_t buf = (uint64_t)p->w.rom[word++] >> (pos % (uint32_t)WQRC_WORD_BITS);
#endif
    for (i = 0; i < fan; ++i) {
        uint32_t code;
#if WQRC_WORD_BITS < 64
        while (avail < bits) {
            buf |= (uint64_t)p->w.rom[word++] << avail;
            avail += (uint32_t)WQRC_WORD_BITS;
        }
        code = (uint32_t)buf & mask;
        buf >>= bits;
        avail -= bits;
#else
        code = wqrc_read_code(p->w.rom, pos, bits);
        pos += bits;
#endif
        if (code != 0u) {
            p->s.tap_off[n] = off_c + off_y + kx * p->win.dil_w;
            if (p->w.po2) {
                p->s.tap_val[n] = (int32_t)(code & (sign - 1u)) - 1;
                p->s.tap_neg[n] = (code & sign) ? -1 : 0;
            } else {
                p->s.tap_val[n] = (code & sign) ? (int32_t)code - (int32_t)(sign << 1) : (int32_t)code;
                p->s.tap_neg[n] = 0;
            }
            ++n;
        }
        if (++kx == p->win.k_w) { /* C order of the weights: ic, ky, kx */
            kx = 0;
            off_y += step_ky;
            if (++ky == p->win.k_h) {
                ky = 0;
                off_y = 0;
                off_c += step_ic;
            }
        }
    }
    (void)mask;
    return n;
}

#if defined(__GNUC__)
#define WQRC_UNROLL _Pragma("GCC unroll 16")
#else
#define WQRC_UNROLL
#endif
/* Whole words of b-bit codes (b a constant) into q15: n, word, dst, lut from the caller. */
#define WQRC_DECODE_WORDS(B, PO2)                                                          \
    for (; n >= 32 / (B); n -= 32 / (B)) {                                                 \
        const uint32_t c = *word++;                                                        \
        int32_t j;                                                                         \
        WQRC_UNROLL                                                                        \
        for (j = 0; j < 32 / (B); ++j) {                                                   \
            *dst++ = (PO2) ? lut[(c >> (j * (B))) & ((1u << (B)) - 1u)]                    \
                           : (int16_t)((int32_t)(c << (32 - (B) - j * (B))) >> (32 - (B))); \
        }                                                                                  \
    }

/* The rest of a stream of b-bit codes (b divides 32), the next one in cur's low bits at bit
 * off of its word: n codes into dst, each as EXPR (of cur); returns from the caller when done.
 * n, cur, off, word, dst, bits from the caller. */
#define WQRC_DECODE_STREAM(EXPR)                           \
    do {                                                   \
        int32_t k = (int32_t)((32u - off) / bits);         \
        for (;;) {                                         \
            k = k < n ? k : n;                             \
            n -= k;                                        \
            for (; k > 0; --k) {                           \
                *dst++ = (EXPR);                           \
                cur >>= bits;                              \
            }                                              \
            if (n == 0) {                                  \
                return;                                    \
            }                                              \
            cur = *word++;                                 \
            k = (int32_t)(32u / bits);                     \
        }                                                  \
    } while (0)

/*
 * Decode output channels oc0 .. oc0+rows-1 of a DFP layer into q15 rows of stride
 * elements (stride = fan rounded up to even; the pad element is zero). Codes are
 * two's complement: (code ^ sign) - sign sign-extends them. With 32-bit words a
 * code is read from at most two words, with 32-bit arithmetic only.
 */
static inline void wqrc_decode_rows(const wqrc_conv_t *p, int32_t oc0, int32_t rows, int32_t fan, int32_t stride,
                                    int16_t *dst)
{
    const uint32_t bits = (uint32_t)p->w.bits;
    const int32_t sign = (int32_t)1 << (bits - 1u);
    const uint32_t mask = (1u << bits) - 1u;
    const int po2 = p->w.po2;
    uint32_t pos = (uint32_t)oc0 * (uint32_t)fan * bits;
    int32_t r, i;
    int16_t lut[32] = {0}; /* Po2 (b <= 5): code -> multiplier +-2^(m-1) (docs/format.md 1b); 2^14 fits q15 */
#if WQRC_WORD_BITS == 32
    if (stride != fan && 32u % bits == 0u) {
        /* an odd fan: decode the block as one stream (the fast paths below), then move the
         * rows apart from the last one back (each moves up, over rows already moved) */
        wqrc_decode_rows(p, oc0, rows, fan, fan, dst);
        for (r = rows - 1; r >= 0; --r) {
            memmove(dst + r * stride, dst + r * fan, sizeof(int16_t) * (size_t)fan);
            dst[r * stride + fan] = 0;
        }
        return;
    }
#endif
    if (po2) {
        uint32_t c;
        for (c = 0u; c <= mask; ++c) {
            const uint32_t m = c & (mask >> 1u);
            const int32_t v = m ? (int32_t)1 << (m - 1u) : 0;
            lut[c] = (int16_t)((c >> (bits - 1u)) ? -v : v);
        }
    }
#if WQRC_WORD_BITS == 32
    const uint32_t *word = p->w.rom + pos / 32u;
    uint32_t cur = *word++, off = pos % 32u;
    if (stride == fan && 32u % bits == 0u) {
        /* b divides 32: codes never straddle words, and rows are contiguous: one
         * stream, one load per 32/b codes. One loop per code kind, so that the
         * per-code work is a sign extension (DFP) or a table read (Po2), no test. */
        int32_t n = rows * fan;
#if WQRC_SIMD_S8
        if (bits == 8u && !po2 && off == 0u) {
            int16_t *const end = dst + n;
            /* DFP-8: a word holds four codes in byte order (LSB first); SXTB16 sign-extends
             * bytes 0 and 2 (and, rotated, 1 and 3) in one instruction, PKHBT/PKHTB pair them */
            const unsigned char *bytes = (const unsigned char *)(word - 1);
            for (; dst + 4 <= end; dst += 4, bytes += 4) {
                uint32_t w4, lo2, hi2;
                memcpy(&w4, bytes, sizeof w4);
                lo2 = (uint32_t)wqrc_sxtb16_lo(w4);  /* c0, c2 */
                hi2 = (uint32_t)wqrc_sxtb16_hi(w4);  /* c1, c3 */
                w4 = (lo2 & 0xFFFFu) | (hi2 << 16);  /* c0, c1 */
                memcpy(dst, &w4, sizeof w4);
                w4 = (hi2 & 0xFFFF0000u) | (lo2 >> 16);  /* c2, c3 */
                memcpy(dst + 2, &w4, sizeof w4);
            }
            for (; dst < end; ++bytes) {
                *dst++ = (int16_t)(int8_t)*bytes;
            }
            return;
        }
#endif
        if (off == 0u && (bits == 2u || bits == 4u || bits == 8u)) {
            /* whole words with the code width a constant: each code is one bit-field
             * extract (SBFX for DFP; UBFX and a table read for Po2), no shift chain */
            --word;
            switch (bits * 2u + (uint32_t)po2) {
            case 4u: WQRC_DECODE_WORDS(2, 0); break;
            case 5u: WQRC_DECODE_WORDS(2, 1); break;
            case 8u: WQRC_DECODE_WORDS(4, 0); break;
            case 9u:
#if defined(WQRC_PO2X2_LUT) && WQRC_LITTLE_ENDIAN
                /* Po2-4 through the model's pair table: a byte (two codes) per table read */
                if ((n & 1) == 0) {
                    const unsigned char *bytes = (const unsigned char *)word;
                    for (; n > 0; n -= 2) {
                        const uint32_t pair = WQRC_PO2X2_LUT[*bytes++];
                        memcpy(dst, &pair, sizeof pair);
                        dst += 2;
                    }
                    return;
                }
#endif
                WQRC_DECODE_WORDS(4, 1);
                break;
            case 16u: WQRC_DECODE_WORDS(8, 0); break;
            default: WQRC_DECODE_WORDS(8, 1); break;
            }
            if (n == 0) {
                return;
            }
            cur = *word++; /* the last, partial word: its n codes below */
        }
        cur >>= off;
        if (po2) {
            WQRC_DECODE_STREAM(lut[cur & mask]);
        } else {
            const uint32_t sh = 32u - bits;
            WQRC_DECODE_STREAM((int16_t)((int32_t)(cur << sh) >> sh));
        }
    }
#endif
    for (r = 0; r < rows; ++r) {
        int16_t *d = dst + r * stride;
        for (i = 0; i < fan; ++i) {
            uint32_t code;
#if WQRC_WORD_BITS == 32
            if (off == 32u) { /* refill lazily: never read past the segment */
                cur = *word++;
                off = 0;
            }
            code = cur >> off;
            off += bits;
            if (off > 32u) {
                cur = *word++;
                off -= 32u;
                code |= cur << (bits - off);
            }
#else
            code = wqrc_read_code(p->w.rom, pos, bits);
            pos += bits;
#endif
            d[i] = (int16_t)(po2 ? lut[code & mask] : ((int32_t)(code & mask) ^ sign) - sign);
        }
        if (stride != fan) {
            d[fan] = 0;
        }
    }
}

/*
 * Copy a conv layer's C x in_h x in_w input into the middle of a zero-padded
 * C x h x w map (h, w: padded sizes), so every window lies inside and no MAC tests
 * a border. Byte copies: one function serves every element type.
 */
static inline void wqrc_pad_input(const wqrc_conv_t *p, void *dst, const void *src, size_t elem, int32_t h,
                                  int32_t w)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    const size_t row = elem * (size_t)p->in.w;
    int32_t c, r;
    memset(d, 0, elem * (size_t)(p->in.c * h * w));
    for (c = 0; c < p->in.c; ++c) {
        for (r = 0; r < p->in.h; ++r) {
            unsigned char *to = d + elem * (size_t)((c * h + r + p->win.pad_t) * w + p->win.pad_l);
            const unsigned char *from = s + row * (size_t)(c * p->in.h + r);
            if (row >= 16u) {
                memcpy(to, from, row);
            } else { /* a narrow map's row: a call would cost more than the copy */
                size_t i;
                for (i = 0; i < row; ++i) {
                    to[i] = from[i];
                }
            }
        }
    }
}

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

#endif /* WQRC_RT_H */
