/*
 * wqrc runtime, decoding: b-bit codes read from the packed ROM (weights stay packed
 * in flash), decoded into a conv's tap list or into q15 rows a block at a time, and a
 * padded layer's input copied into its zero-bordered map.
 */
#ifndef WQRC_DECODE_H
#define WQRC_DECODE_H

#include "wqrc_types.h"
#include "wqrc_simd.h"

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

#endif /* WQRC_DECODE_H */
