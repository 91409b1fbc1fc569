/*
 * wqrc runtime, types: the parameter groups a layer's struct is made of (CMSIS-NN
 * style), each layer kind's struct, its scratch, and the compile-time switch that
 * reads a layer's per-channel shifts (the tie rule's is in wqrc_rq_args,
 * wqrc_requant.h). Needs WQRC_WORD_T (the ROM's word type), which wqrc_model.c
 * defines before it includes wqrc_rt.h.
 */
#ifndef WQRC_TYPES_H
#define WQRC_TYPES_H

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

/*
 * A layer's scratch, in the model's one arena: the generator sizes each buffer for
 * this layer and places it by liveness beside the layer's own input and output (it
 * lives only while the layer runs); NULL where the layer's kernel needs none.
 */
typedef struct {
    void *pad;                /* zero-padded input map (one channel's, for depthwise) */
    int16_t *wbuf;            /* decoded q15 rows: block x fan rounded up to even      */
    int16_t *ubuf;            /* Winograd kernel: the block's transformed weights      */
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

#endif /* WQRC_TYPES_H */
