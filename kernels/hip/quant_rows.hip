// quant_rows.hip: whole weight rows decoded: get_rows (embedding lookup, f32 out) and
// dequantize (every row to f16, for the prefill GEMM), every weight type, bit-exact with
// ggml-core's scalar dequantizer (the f16 output rounded to nearest even).
#include "rocmforge.hip.h"
#include "quants.hip.h"

RF_DEVICE void rf_store(float* p, float v) { *p = v; }
RF_DEVICE void rf_store(rf_u16* p, float v) { *p = rf_float_to_half(v); }

// out[o][e] = weight e of row (ids ? ids[o] : o), for o < n_out and e < row_len; a row id at
// or past n_rows gives zeros (the kernel never reads outside the tensor).
// Grid: x covers the row's elements (grid-stride), y the output rows (grid-stride).
template <class Q, class Out>
RF_DEVICE void rf_rows(const rf_u8* __restrict__ w, const rf_u32* __restrict__ ids, rf_u32 n_rows,
                       rf_u32 row_len, Out* __restrict__ out, rf_u32 n_out) {
    const unsigned long long row_bytes = (unsigned long long)(row_len / Q::QK) * Q::BYTES;
    for (rf_u32 o = blockIdx.y; o < n_out; o += gridDim.y) {
        const rf_u32 id = ids ? ids[o] : o;
        const rf_u8* row = w + (unsigned long long)id * row_bytes;
        Out* dst = out + (unsigned long long)o * row_len;
        for (rf_u32 e = rf_global_id(); e < row_len; e += rf_grid_stride()) {
            const float v = id < n_rows ? Q::value(row + (e / Q::QK) * Q::BYTES, (int)(e % Q::QK)) : 0.0f;
            rf_store(dst + e, v);
        }
    }
}

#define RF_GET_ROWS_PARAMS                                                                       \
    const rf_u8 *__restrict__ w, const rf_u32 *__restrict__ ids, rf_u32 n_rows, rf_u32 row_len, \
        float *__restrict__ out, rf_u32 n_ids
#define RF_GET_ROWS_ARGS w, ids, n_rows, row_len, out, n_ids
#define RF_DEQUANT_PARAMS \
    const rf_u8 *__restrict__ w, rf_u32 n_rows, rf_u32 row_len, rf_u16 *__restrict__ out
#define RF_DEQUANT_ARGS w, (const rf_u32*)0, n_rows, row_len, out, n_rows

// out f32 [n_ids][row_len] = rows ids[i] of w (n_rows rows of row_len weights)
RF_KERNEL void rf_get_rows_f32(RF_GET_ROWS_PARAMS) { rf_rows<rf_f32>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_f16(RF_GET_ROWS_PARAMS) { rf_rows<rf_f16>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_bf16(RF_GET_ROWS_PARAMS) { rf_rows<rf_bf16>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_q4_0(RF_GET_ROWS_PARAMS) { rf_rows<rf_q4_0>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_q4_1(RF_GET_ROWS_PARAMS) { rf_rows<rf_q4_1>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_q5_0(RF_GET_ROWS_PARAMS) { rf_rows<rf_q5_0>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_q5_1(RF_GET_ROWS_PARAMS) { rf_rows<rf_q5_1>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_q8_0(RF_GET_ROWS_PARAMS) { rf_rows<rf_q8_0>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_q2_k(RF_GET_ROWS_PARAMS) { rf_rows<rf_q2_k>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_q3_k(RF_GET_ROWS_PARAMS) { rf_rows<rf_q3_k>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_q4_k(RF_GET_ROWS_PARAMS) { rf_rows<rf_q4_k>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_q5_k(RF_GET_ROWS_PARAMS) { rf_rows<rf_q5_k>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_q6_k(RF_GET_ROWS_PARAMS) { rf_rows<rf_q6_k>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_iq4_nl(RF_GET_ROWS_PARAMS) { rf_rows<rf_iq4_nl>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_iq4_xs(RF_GET_ROWS_PARAMS) { rf_rows<rf_iq4_xs>(RF_GET_ROWS_ARGS); }
RF_KERNEL void rf_get_rows_mxfp4(RF_GET_ROWS_PARAMS) { rf_rows<rf_mxfp4>(RF_GET_ROWS_ARGS); }

// out f16 [n_rows][row_len] = every row of w
RF_KERNEL void rf_dequant_f16_f32(RF_DEQUANT_PARAMS) { rf_rows<rf_f32>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_f16(RF_DEQUANT_PARAMS) { rf_rows<rf_f16>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_bf16(RF_DEQUANT_PARAMS) { rf_rows<rf_bf16>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_q4_0(RF_DEQUANT_PARAMS) { rf_rows<rf_q4_0>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_q4_1(RF_DEQUANT_PARAMS) { rf_rows<rf_q4_1>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_q5_0(RF_DEQUANT_PARAMS) { rf_rows<rf_q5_0>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_q5_1(RF_DEQUANT_PARAMS) { rf_rows<rf_q5_1>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_q8_0(RF_DEQUANT_PARAMS) { rf_rows<rf_q8_0>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_q2_k(RF_DEQUANT_PARAMS) { rf_rows<rf_q2_k>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_q3_k(RF_DEQUANT_PARAMS) { rf_rows<rf_q3_k>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_q4_k(RF_DEQUANT_PARAMS) { rf_rows<rf_q4_k>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_q5_k(RF_DEQUANT_PARAMS) { rf_rows<rf_q5_k>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_q6_k(RF_DEQUANT_PARAMS) { rf_rows<rf_q6_k>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_iq4_nl(RF_DEQUANT_PARAMS) { rf_rows<rf_iq4_nl>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_iq4_xs(RF_DEQUANT_PARAMS) { rf_rows<rf_iq4_xs>(RF_DEQUANT_ARGS); }
RF_KERNEL void rf_dequant_f16_mxfp4(RF_DEQUANT_PARAMS) { rf_rows<rf_mxfp4>(RF_DEQUANT_ARGS); }
