/*
 * Conversions and the reference compute of the simulator (sim_compute.c), used by sim_api.c.
 * Private to the simulator: every function is hidden, nothing here is exported from librknnrt.so.
 *
 * Value model: a tensor "as the model holds it" is a dense buffer of the model's rknn_tensor_type in
 * logical (ONNX, NCHW for 4-D) order.  Real values are obtained by dequantising ((q - zp) * scale) when
 * the tensor is affine-quantised.  All arithmetic is done in float32, like numpy on float32 arrays, and
 * rounding to integers is round-half-to-even (numpy's np.rint / np.round).
 */
#ifndef ZTU_SIM_COMPUTE_H
#define ZTU_SIM_COMPUTE_H

#include <stddef.h>
#include <stdint.h>

#include "sim_internal.h"

#ifndef SIM_HIDDEN
#define SIM_HIDDEN __attribute__((visibility("hidden")))
#endif

/* IEEE binary16 <-> binary32, round-to-nearest-even, inf/nan/subnormals handled. */
SIM_HIDDEN float sim_half_to_float(uint16_t h);
SIM_HIDDEN uint16_t sim_float_to_half(float f);

/* Raw numeric value of element i of a buffer of `type` (no dequantisation). */
SIM_HIDDEN float sim_load_value(const void *buf, size_t i, int32_t type);
/* Stores v into element i: floats converted, integers rounded half-to-even and saturated, bool v != 0. */
SIM_HIDDEN void sim_store_value(void *buf, size_t i, int32_t type, float v);

/* Real value of element i of a buffer held in the tensor's type (dequantised when affine). */
SIM_HIDDEN float sim_load_real(const void *buf, size_t i, const sim_tensor *t);
/* Stores the real value x into element i in the tensor's type (quantised with saturation when affine). */
SIM_HIDDEN void sim_store_real(void *buf, size_t i, const sim_tensor *t, float x);

/* Channel width C2 of the NC1HWC2 native layout for a type: 16 for 1-byte types (int8/uint8/bool),
 * 8 for 2-byte types (float16, int16, uint16, bfloat16), 4 for 4-byte types (float32, int32, uint32),
 * 2 for int64 -- i.e. 16 bytes per C2 group, the RK3588/RK3562 rule of the 1.5.2 guide (RK3566/RK3568
 * use half of that; the simulator keeps the RK3588 values on every SoC profile). */
SIM_HIDDEN uint32_t sim_c2_for_type(int32_t type);

/* Layout copies of element size `esize`.  `nchw` = logical [N,C,H,W] dims.
 * NHWC buffers may have rows padded to `w_stride` pixels and images padded to `h_stride` rows (0 or a value
 * not above W / H means dense); padding is zero-filled when written. */
SIM_HIDDEN void sim_nhwc_to_nchw(const void *src, void *dst, const uint32_t nchw[4], size_t esize, uint32_t w_stride,
                                 uint32_t h_stride);
SIM_HIDDEN void sim_nchw_to_nhwc(const void *src, void *dst, const uint32_t nchw[4], size_t esize, uint32_t w_stride,
                                 uint32_t h_stride);
/* NC1HWC2: C2 fastest, then W, H, C1, N; channels >= C are zero padding. */
SIM_HIDDEN void sim_nchw_to_nc1hwc2(const void *src, void *dst, const uint32_t nchw[4], uint32_t c1, uint32_t c2,
                                    size_t esize);
SIM_HIDDEN void sim_nc1hwc2_to_nchw(const void *src, void *dst, const uint32_t nchw[4], uint32_t c1, uint32_t c2,
                                    size_t esize);

/* The sum rule of DESIGN.md: out[i] = sum_k in_k[i mod n_k] + j, in float32, inputs added in index order.
 * An input with 0 elements contributes 0 (documented simulator choice). */
SIM_HIDDEN void sim_sum_rule(const float *const *ins, const uint64_t *in_elems, uint32_t n_in, float *out,
                             uint64_t out_elems, uint32_t j);

/* Bulk forms of the rules above (identical results, the type dispatch hoisted out of the loops). */
SIM_HIDDEN void sim_load_values(const void *buf, size_t n, int32_t type, float *out);
SIM_HIDDEN void sim_load_reals(const void *buf, size_t n, const sim_tensor *t, float *out);
SIM_HIDDEN void sim_store_values(void *buf, size_t n, int32_t type, const float *in);
SIM_HIDDEN void sim_store_reals(void *buf, size_t n, const sim_tensor *t, const float *in);
/* Values of type `stype` -> the tensor's held form (quantised when affine), and back to values of `dtype`
 * (dequantised), n elements, chunked through a stack buffer. */
SIM_HIDDEN void sim_values_to_held(const void *src, int32_t stype, size_t n, const sim_tensor *t, void *held);
SIM_HIDDEN void sim_held_to_values(const void *held, const sim_tensor *t, size_t n, int32_t dtype, void *dst);

#endif /* ZTU_SIM_COMPUTE_H */
