/*
 * wqrc runtime, Helium: the M-profile Vector Extension (MVE, integer) of Cortex-M55/M85 cores.
 * WQRC_MVE is 1 where the compiler targets it (arm-none-eabi-gcc -mcpu=cortex-m55
 * -mfloat-abi=hard); elsewhere these functions do not exist and the kernels keep their
 * scalar paths. The dual-MAC kernel (kernels/dmac.h.j2, its _mve path) uses two of them:
 *   - wqrc_gather_mve_*: an input window into a contiguous q15 column, four elements per
 *     gather load through the window's offset table, widened on the way in;
 *   - wqrc_dot2x2_mve: decoded q15 rows against two such columns, eight MACs per VMLADAVA.
 * Both are tail-predicated low-overhead loops (DLSTP/LETP): the last, partial vector is
 * masked by the loop itself, so any fan works and no lane past it is read or written.
 * Sums are exact int32 additions, whose order the layer's bound leaves free.
 */
#ifndef WQRC_MVE_H
#define WQRC_MVE_H

#include "wqrc_simd.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && WQRC_LITTLE_ENDIAN && defined(__GNUC__)
#define WQRC_MVE 1
#else
#define WQRC_MVE 0
#endif

#if WQRC_MVE
/* col[k] = s[off[k]] for k < fan, each widened to q15. One gather per type of input. */
#define WQRC_GATHER_MVE(suffix, type, load)                                                       \
    static inline void wqrc_gather_mve_##suffix(const type *s, const int32_t *off, int32_t fan, int16_t *col) \
    {                                                                                             \
        __asm__ volatile("dlstp.32 lr, %[n]\n"                                                    \
                         "1:\n\t"                                                                 \
                         "vldrw.u32 q0, [%[o]], #16\n\t"                                          \
                         load "\n\t"                                                              \
                         "vstrh.32  q1, [%[c]], #8\n\t"                                           \
                         "letp      lr, 1b\n"                                                     \
                         : [o] "+r"(off), [c] "+l"(col)                                           \
                         : [s] "r"(s), [n] "r"(fan)                                               \
                         : "lr", "q0", "q1", "memory");                                           \
    }
WQRC_GATHER_MVE(u8, uint8_t, "vldrb.u32 q1, [%[s], q0]")
WQRC_GATHER_MVE(s8, int8_t, "vldrb.s32 q1, [%[s], q0]")
WQRC_GATHER_MVE(s16, int16_t, "vldrh.s32 q1, [%[s], q0, uxtw #1]")
#undef WQRC_GATHER_MVE

/* col[k] = s[off[k]] as int8 for k < fan, for the 8-bit dot product: s8 inputs as they are, u8
 * inputs offset by -128 (x ^ 0x80 is x - 128 in a byte), which wqrc_dot2x2_mve_s8 takes back. */
#define WQRC_GATHER8_MVE(suffix, type, flip)                                                     \
    static inline void wqrc_gather8_mve_##suffix(const type *s, const int32_t *off, int32_t fan, int8_t *col) \
    {                                                                                             \
        __asm__ volatile("vmov.i32  q2, #0x80\n"                                                 \
                         "dlstp.32  lr, %[n]\n"                                                  \
                         "1:\n\t"                                                                \
                         "vldrw.u32 q0, [%[o]], #16\n\t"                                         \
                         "vldrb.u32 q1, [%[s], q0]\n\t"                                          \
                         flip                                                                     \
                         "vstrb.32  q1, [%[c]], #4\n\t"                                          \
                         "letp      lr, 1b\n"                                                    \
                         : [o] "+r"(off), [c] "+l"(col)                                           \
                         : [s] "r"(s), [n] "r"(fan)                                               \
                         : "lr", "q0", "q1", "q2", "memory");                                     \
    }
WQRC_GATHER8_MVE(u8, uint8_t, "veor      q1, q1, q2\n\t")
WQRC_GATHER8_MVE(s8, int8_t, "")
#undef WQRC_GATHER8_MVE

/*
 * Every row of a decoded block (nrows q15 rows, `stride` apart) against the columns a and b
 * (fan q15 values each), two rows at a time as wqrc_dot2x2_rows (an odd last row computed
 * twice, stored once): acc[2r], acc[2r + 1] get row r's sums for a and b, started at bias[r].
 * Per eight inputs: four loads, four VMLADAVA (32 MACs) and the loop's LETP. VMLADAVA
 * accumulates into an even-numbered register, hence the sums' fixed registers.
 */
WQRC_OUT_OF_LINE void wqrc_dot2x2_mve(const int16_t *rows, int32_t stride, int32_t nrows, const int16_t *a,
                                      const int16_t *b, int32_t fan, const int32_t *bias, int32_t *acc)
{
    int32_t r;
    for (r = 0; r < nrows; r += 2) {
        const int32_t pair = r + 1 < nrows;
        const int16_t *w0 = rows + r * stride, *w1 = pair ? w0 + stride : w0, *x = a, *y = b;
        register int32_t s00 __asm__("r4") = bias[r];
        register int32_t s01 __asm__("r6") = bias[r];
        register int32_t s10 __asm__("r8") = bias[r + pair];
        register int32_t s11 __asm__("r10") = bias[r + pair];
        __asm__ volatile("dlstp.16 lr, %[n]\n"
                         "1:\n\t"
                         "vldrh.s16    q0, [%[w0]], #16\n\t"
                         "vldrh.s16    q1, [%[x]], #16\n\t"
                         "vmladava.s16 %[s00], q0, q1\n\t"
                         "vldrh.s16    q2, [%[y]], #16\n\t"
                         "vmladava.s16 %[s01], q0, q2\n\t"
                         "vldrh.s16    q3, [%[w1]], #16\n\t"
                         "vmladava.s16 %[s10], q3, q1\n\t"
                         "vmladava.s16 %[s11], q3, q2\n\t"
                         "letp         lr, 1b\n"
                         : [w0] "+r"(w0), [w1] "+r"(w1), [x] "+r"(x), [y] "+r"(y), [s00] "+r"(s00),
                           [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11)
                         : [n] "r"(fan)
                         : "lr", "q0", "q1", "q2", "q3", "memory");
        wqrc_store2x2(acc, s00, s01, s10, s11, pair);
        acc += 4;
    }
}

/*
 * wqrc_dot2x2_mve on int8 rows and columns (DFP-8 codes read from flash; 8-bit inputs gathered
 * by wqrc_gather8_mve_*): sixteen MACs per VMLADAVA. Columns of u8 inputs hold x - 128, so each
 * row's sum of weights (VADDVA, in the same loop) times offset (128; 0 for s8 inputs) is added
 * back; the sums are combined modulo 2^32, exact because the true sum fits int32 (the bound).
 */
WQRC_OUT_OF_LINE void wqrc_dot2x2_mve_s8(const int8_t *rows, int32_t stride, int32_t nrows, const int8_t *a,
                                         const int8_t *b, int32_t fan, int32_t offset, const int32_t *bias,
                                         int32_t *acc)
{
    int32_t r;
    for (r = 0; r < nrows; r += 2) {
        const int32_t pair = r + 1 < nrows;
        const int8_t *w0 = rows + r * stride, *w1 = pair ? w0 + stride : w0, *x = a, *y = b;
        const uint32_t b0 = (uint32_t)bias[r], b1 = (uint32_t)bias[r + pair];
        register int32_t s00 __asm__("r4") = 0;
        register int32_t s01 __asm__("r6") = 0;
        register int32_t s10 __asm__("r8") = 0;
        register int32_t s11 __asm__("r10") = 0;
        register int32_t c0 __asm__("r12") = 0;
        register int32_t c1 __asm__("r2") = 0;
        uint32_t k0, k1;
        __asm__ volatile("dlstp.8 lr, %[n]\n"
                         "1:\n\t"
                         "vldrb.u8    q0, [%[w0]], #16\n\t"
                         "vldrb.u8    q1, [%[x]], #16\n\t"
                         "vmladava.s8 %[s00], q0, q1\n\t"
                         "vldrb.u8    q2, [%[y]], #16\n\t"
                         "vmladava.s8 %[s01], q0, q2\n\t"
                         "vaddva.s8   %[c0], q0\n\t"
                         "vldrb.u8    q3, [%[w1]], #16\n\t"
                         "vmladava.s8 %[s10], q3, q1\n\t"
                         "vmladava.s8 %[s11], q3, q2\n\t"
                         "vaddva.s8   %[c1], q3\n\t"
                         "letp        lr, 1b\n"
                         : [w0] "+r"(w0), [w1] "+r"(w1), [x] "+r"(x), [y] "+r"(y), [s00] "+r"(s00),
                           [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [c0] "+r"(c0), [c1] "+r"(c1)
                         : [n] "r"(fan)
                         : "lr", "q0", "q1", "q2", "q3", "memory");
        k0 = b0 + (uint32_t)offset * (uint32_t)c0;
        k1 = b1 + (uint32_t)offset * (uint32_t)c1;
        wqrc_store2x2(acc, (int32_t)(k0 + (uint32_t)s00), (int32_t)(k0 + (uint32_t)s01), (int32_t)(k1 + (uint32_t)s10),
                      (int32_t)(k1 + (uint32_t)s11), pair);
        acc += 4;
    }
}
#endif

#endif /* WQRC_MVE_H */
