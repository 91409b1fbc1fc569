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

/* The runtime, by concern: types (parameter structs), requantization (the contract's
 * rounding, clamps, saturation), SIMD helpers (Helium's apart), and decoding of the packed codes. */
#include "wqrc_types.h"
#include "wqrc_requant.h"
#include "wqrc_simd.h"
#include "wqrc_mve.h"
#include "wqrc_decode.h"

#endif /* WQRC_RT_H */
