// quants.hip.h: the ggml weight block formats on the device, one decoder struct per type.
//
// Each struct describes one block layout exactly as ggml-core's repr(C) blocks (the sizes are
// checked below) and gives two decoders:
//   value(blk, i)        weight i of the block, bit-exact with ggml-core's scalar dequantizer
//                        (same operations in the same order, no fused multiply-add);
//   unit(blk, s, lut, u) the 32 weights of sub-block s as signed 8-bit quants (four to an int,
//                        in element order) with their scales and offsets, for int8 dot products
//                        with q8_1 activations: weight = a * q + m (per 32) or m0/m1 (per 16).
// Block bytes are read through rf_ld_u32<ALIGN>, ALIGN being the alignment every block of the
// type has when the tensor starts 16-byte aligned: gcd(BYTES, 16).
#ifndef ROCMFORGE_QUANTS_HIP_H
#define ROCMFORGE_QUANTS_HIP_H

// Included after rocmforge.hip.h (kernels/src/source.rs inlines both, in that order).
#ifndef ROCMFORGE_HIP_H
#error "include rocmforge.hip.h before quants.hip.h"
#endif

typedef unsigned char rf_u8;
typedef signed char rf_i8;

#define RF_STATIC_ASSERT(cond, msg) static_assert(cond, msg)

// ---- loads at a known alignment, and the exact multiply ------------------------------------

RF_DEVICE rf_u32 rf_ld_u16(const rf_u8* p) { return *(const rf_u16*)p; }

// Four bytes at p, little-endian; p is ALIGN-byte aligned (1, 2, or 4 and more).
template <int ALIGN> RF_DEVICE rf_u32 rf_ld_u32(const rf_u8* p) {
    if (ALIGN >= 4) {
        return *(const rf_u32*)p;
    } else if (ALIGN == 2) {
        const rf_u16* h = (const rf_u16*)p;
        return (rf_u32)h[0] | ((rf_u32)h[1] << 16);
    } else {
        return (rf_u32)p[0] | ((rf_u32)p[1] << 8) | ((rf_u32)p[2] << 16) | ((rf_u32)p[3] << 24);
    }
}

RF_DEVICE float rf_ld_half(const rf_u8* p) { return rf_half_to_float((rf_u16)rf_ld_u16(p)); }

// a * b rounded once, never contracted into a following add (the scalar references round
// every product; a fused multiply-add would differ in the last bit).
RF_DEVICE float rf_mul_rn(float a, float b) {
#if defined(RF_NVIDIA)
    return __fmul_rn(a, b);
#else
    float p = a * b;
    __asm__("" : "+v"(p));
    return p;
#endif
}

// ---- decoded sub-blocks of 32 weights for int8 dot products ------------------------------

struct rf_unit {
    rf_i32 q[8];   // 32 signed 8-bit quants, element order, four per int
    float a0, a1;  // scale of elements 0..16 and 16..32
    float m;       // offset of every weight (types with MIN32)
    float m0, m1;  // offsets of elements 0..16 and 16..32 (types with MIN16)
};

// Bits 0..3 of `bits` moved to bit 0 of bytes 0..3.
RF_DEVICE rf_u32 rf_spread4(rf_u32 bits) {
    return (bits & 1u) | ((bits & 2u) << 7) | ((bits & 4u) << 14) | ((bits & 8u) << 21);
}

// Four byte-wise table lookups: byte j of the result is lut[byte j of idx] (indices < 16).
RF_DEVICE rf_i32 rf_lut4(rf_u32 idx, const rf_i8* lut) {
    return (rf_i32)((rf_u32)(rf_u8)lut[idx & 0xffu] | ((rf_u32)(rf_u8)lut[(idx >> 8) & 0xffu] << 8) |
                    ((rf_u32)(rf_u8)lut[(idx >> 16) & 0xffu] << 16) |
                    ((rf_u32)(rf_u8)lut[idx >> 24] << 24));
}

// Sixteen nibble-packed bytes laid out as Q4_0 (byte j: element j low, j + 16 high) as 32
// byte values in element order.
template <int ALIGN> RF_DEVICE void rf_nibbles32(const rf_u8* qs, rf_i32* q) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const rf_u32 w = rf_ld_u32<ALIGN>(qs + 4 * i);
        q[i] = (rf_i32)(w & 0x0f0f0f0fu);
        q[4 + i] = (rf_i32)((w >> 4) & 0x0f0f0f0fu);
    }
}

// ---- the non-linear value tables --------------------------------------------------------

#define RF_KVALUES_IQ4NL {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
#define RF_KVALUES_MXFP4 {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

__constant__ rf_i8 rf_kvalues_iq4nl[16] = RF_KVALUES_IQ4NL;
__constant__ rf_i8 rf_kvalues_mxfp4[16] = RF_KVALUES_MXFP4;

// Half of the e8m0 scale 2^(e - 127) (exact, subnormal for e < 2).
RF_DEVICE float rf_e8m0_half(rf_u32 e) {
    const rf_u32 bits = e < 2 ? (0x00200000u << e) : ((e - 1) << 23);
    return __uint_as_float(bits);
}

// ---- plain rows -----------------------------------------------------------------------

struct rf_f32 {
    enum { QK = 1, BYTES = 4, ALIGN = 4, LUT = 0, MIN32 = 0, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int) { return *(const float*)b; }
};

struct rf_f16 {
    enum { QK = 1, BYTES = 2, ALIGN = 2, LUT = 0, MIN32 = 0, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int) { return rf_ld_half(b); }
};

struct rf_bf16 {
    enum { QK = 1, BYTES = 2, ALIGN = 2, LUT = 0, MIN32 = 0, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int) { return rf_bf16_to_float((rf_u16)rf_ld_u16(b)); }
};

// ---- legacy 32-weight blocks ----------------------------------------------------------

// Q4_0: f16 d, 16 bytes of nibbles; w = d * (q - 8).
struct rf_q4_0 {
    enum { QK = 32, BYTES = 18, ALIGN = 2, LUT = 0, MIN32 = 1, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        const rf_u8 byte = b[2 + (i & 15)];
        const int q = i < 16 ? (byte & 15) : (byte >> 4);
        return rf_ld_half(b) * (float)(q - 8);
    }
    RF_DEVICE static void unit(const rf_u8* b, int, const rf_i8*, rf_unit& u) {
        const float d = rf_ld_half(b);
        rf_nibbles32<ALIGN>(b + 2, u.q);
        u.a0 = u.a1 = d;
        u.m = -8.0f * d;
    }
};

// Q4_1: f16 d, f16 m, nibbles; w = d * q + m.
struct rf_q4_1 {
    enum { QK = 32, BYTES = 20, ALIGN = 4, LUT = 0, MIN32 = 1, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        const rf_u8 byte = b[4 + (i & 15)];
        const int q = i < 16 ? (byte & 15) : (byte >> 4);
        return rf_mul_rn(rf_ld_half(b), (float)q) + rf_ld_half(b + 2);
    }
    RF_DEVICE static void unit(const rf_u8* b, int, const rf_i8*, rf_unit& u) {
        rf_nibbles32<ALIGN>(b + 4, u.q);
        u.a0 = u.a1 = rf_ld_half(b);
        u.m = rf_ld_half(b + 2);
    }
};

// Fifth bits of a Q5 block: bit j of qh is element j's.
template <int ALIGN> RF_DEVICE void rf_q5_bits(rf_u32 qh, rf_i32* q) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        q[i] |= (rf_i32)(rf_spread4(qh >> (4 * i)) << 4);
        q[4 + i] |= (rf_i32)(rf_spread4(qh >> (16 + 4 * i)) << 4);
    }
}

// Q5_0: f16 d, u32 qh, nibbles; w = d * (q - 16).
struct rf_q5_0 {
    enum { QK = 32, BYTES = 22, ALIGN = 2, LUT = 0, MIN32 = 1, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        const rf_u32 qh = rf_ld_u32<ALIGN>(b + 2);
        const rf_u8 byte = b[6 + (i & 15)];
        const int q = (i < 16 ? (byte & 15) : (byte >> 4)) | (int)(((qh >> i) & 1u) << 4);
        return rf_ld_half(b) * (float)(q - 16);
    }
    RF_DEVICE static void unit(const rf_u8* b, int, const rf_i8*, rf_unit& u) {
        const float d = rf_ld_half(b);
        rf_nibbles32<ALIGN>(b + 6, u.q);
        rf_q5_bits<ALIGN>(rf_ld_u32<ALIGN>(b + 2), u.q);
        u.a0 = u.a1 = d;
        u.m = -16.0f * d;
    }
};

// Q5_1: f16 d, f16 m, u32 qh, nibbles; w = d * q + m.
struct rf_q5_1 {
    enum { QK = 32, BYTES = 24, ALIGN = 8, LUT = 0, MIN32 = 1, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        const rf_u32 qh = rf_ld_u32<4>(b + 4);
        const rf_u8 byte = b[8 + (i & 15)];
        const int q = (i < 16 ? (byte & 15) : (byte >> 4)) | (int)(((qh >> i) & 1u) << 4);
        return rf_mul_rn(rf_ld_half(b), (float)q) + rf_ld_half(b + 2);
    }
    RF_DEVICE static void unit(const rf_u8* b, int, const rf_i8*, rf_unit& u) {
        rf_nibbles32<4>(b + 8, u.q);
        rf_q5_bits<4>(rf_ld_u32<4>(b + 4), u.q);
        u.a0 = u.a1 = rf_ld_half(b);
        u.m = rf_ld_half(b + 2);
    }
};

// Q8_0: f16 d, 32 signed bytes; w = d * q.
struct rf_q8_0 {
    enum { QK = 32, BYTES = 34, ALIGN = 2, LUT = 0, MIN32 = 0, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) { return rf_ld_half(b) * (float)(rf_i8)b[2 + i]; }
    RF_DEVICE static void unit(const rf_u8* b, int, const rf_i8*, rf_unit& u) {
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            u.q[i] = (rf_i32)rf_ld_u32<ALIGN>(b + 2 + 4 * i);
        }
        u.a0 = u.a1 = rf_ld_half(b);
    }
};

// IQ4_NL: f16 d, nibbles indexing the non-linear table; w = d * kvalues[q].
struct rf_iq4_nl {
    enum { QK = 32, BYTES = 18, ALIGN = 2, LUT = 1, MIN32 = 0, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        const rf_u8 byte = b[2 + (i & 15)];
        const int q = i < 16 ? (byte & 15) : (byte >> 4);
        return rf_ld_half(b) * (float)rf_kvalues_iq4nl[q];
    }
    RF_DEVICE static void unit(const rf_u8* b, int, const rf_i8* lut, rf_unit& u) {
        rf_nibbles32<ALIGN>(b + 2, u.q);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            u.q[i] = rf_lut4((rf_u32)u.q[i], lut);
        }
        u.a0 = u.a1 = rf_ld_half(b);
    }
};

// MXFP4: e8m0 exponent byte, e2m1 nibbles; w = 2^(e-128) * kvalues[q].
struct rf_mxfp4 {
    enum { QK = 32, BYTES = 17, ALIGN = 1, LUT = 1, MIN32 = 0, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        const rf_u8 byte = b[1 + (i & 15)];
        const int q = i < 16 ? (byte & 15) : (byte >> 4);
        return rf_e8m0_half(b[0]) * (float)rf_kvalues_mxfp4[q];
    }
    RF_DEVICE static void unit(const rf_u8* b, int, const rf_i8* lut, rf_unit& u) {
        rf_nibbles32<ALIGN>(b + 1, u.q);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            u.q[i] = rf_lut4((rf_u32)u.q[i], lut);
        }
        u.a0 = u.a1 = rf_e8m0_half(b[0]);
    }
};

// ---- k-quants: 256-weight super-blocks ------------------------------------------------

// Sign-extends packed 3-bit (B = 4) or 6-bit (B = 32) values minus their midpoint: each byte
// v becomes v - B as a signed byte (B * MUL == the high bits above the field).
template <rf_u32 B, rf_u32 MUL> RF_DEVICE rf_i32 rf_centre(rf_u32 v) {
    const rf_u32 t = v ^ (B * 0x01010101u);
    return (rf_i32)(t | ((t & (B * 0x01010101u)) * MUL));
}

// Q2_K: 16 scale bytes (low: scale, high: min), 64 bytes of 2-bit quants, f16 d, f16 dmin;
// group g of 16: w = d * (sc & 15) * q - dmin * (sc >> 4).
struct rf_q2_k {
    enum { QK = 256, BYTES = 84, ALIGN = 4, LUT = 0, MIN32 = 0, MIN16 = 1 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        const int g = i >> 4;
        const rf_u32 sc = b[g];
        const float d = rf_ld_half(b + 80), dmin = rf_ld_half(b + 82);
        const float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
        const int q = (b[16 + (i >> 7) * 32 + (i & 31)] >> (2 * ((i >> 5) & 3))) & 3;
        return rf_mul_rn(dl, (float)q) - ml;
    }
    RF_DEVICE static void unit(const rf_u8* b, int s, const rf_i8*, rf_unit& u) {
        const rf_u8* qs = b + 16 + (s >> 2) * 32;
        const int shift = 2 * (s & 3);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            u.q[i] = (rf_i32)((rf_ld_u32<ALIGN>(qs + 4 * i) >> shift) & 0x03030303u);
        }
        const float d = rf_ld_half(b + 80), dmin = rf_ld_half(b + 82);
        const rf_u32 sc0 = b[2 * s], sc1 = b[2 * s + 1];
        u.a0 = d * (float)(sc0 & 15);
        u.a1 = d * (float)(sc1 & 15);
        u.m0 = -dmin * (float)(sc0 >> 4);
        u.m1 = -dmin * (float)(sc1 >> 4);
    }
};

// The 6-bit scale of Q3_K group j, minus 32.
RF_DEVICE int rf_q3k_scale(const rf_u8* packed, int j) {
    const int low = j < 8 ? (packed[j] & 15) : (packed[j - 8] >> 4);
    const int high = (packed[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    return (low | (high << 4)) - 32;
}

// Q3_K: 32 bytes of high bits, 64 bytes of 2-bit quants, 12 bytes of packed 6-bit scales,
// f16 d; group g of 16: w = d * (scale_g - 32) * (q - (high bit ? 0 : 4)).
struct rf_q3_k {
    enum { QK = 256, BYTES = 110, ALIGN = 2, LUT = 0, MIN32 = 0, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        const float dl = rf_ld_half(b + 108) * (float)rf_q3k_scale(b + 96, i >> 4);
        const int l = i & 31, s = i >> 5;
        const int low = (b[32 + (i >> 7) * 32 + l] >> (2 * (s & 3))) & 3;
        const int offset = (b[l] >> s) & 1 ? 0 : 4;
        return dl * (float)(low - offset);
    }
    RF_DEVICE static void unit(const rf_u8* b, int s, const rf_i8*, rf_unit& u) {
        const rf_u8* qs = b + 32 + (s >> 2) * 32;
        const int shift = 2 * (s & 3);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const rf_u32 low = (rf_ld_u32<ALIGN>(qs + 4 * i) >> shift) & 0x03030303u;
            const rf_u32 high = (rf_ld_u32<ALIGN>(b + 4 * i) >> s) & 0x01010101u;
            u.q[i] = rf_centre<4u, 62u>(low | (high << 2));
        }
        const float d = rf_ld_half(b + 108);
        u.a0 = d * (float)rf_q3k_scale(b + 96, 2 * s);
        u.a1 = d * (float)rf_q3k_scale(b + 96, 2 * s + 1);
    }
};

// Scale and min of group j (0..8) of Q4_K/Q5_K, 6 bits each, packed in 12 bytes.
RF_DEVICE void rf_scale_min_k4(const rf_u8* q, int j, int& sc, int& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 15) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Q4_K: f16 d, f16 dmin, 12 bytes of scales/mins, 128 bytes of nibbles (each 64 weights share
// 32 bytes, the first 32 in the low nibbles); group j of 32: w = d * sc * q - dmin * m.
struct rf_q4_k {
    enum { QK = 256, BYTES = 144, ALIGN = 16, LUT = 0, MIN32 = 1, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        int sc, m;
        rf_scale_min_k4(b + 4, i >> 5, sc, m);
        const float dl = rf_ld_half(b) * (float)sc, ml = rf_ld_half(b + 2) * (float)m;
        const rf_u8 byte = b[16 + (i >> 6) * 32 + (i & 31)];
        const int q = (i & 32) ? (byte >> 4) : (byte & 15);
        return rf_mul_rn(dl, (float)q) - ml;
    }
    RF_DEVICE static void unit(const rf_u8* b, int s, const rf_i8*, rf_unit& u) {
        const rf_u8* qs = b + 16 + (s >> 1) * 32;
        const int shift = 4 * (s & 1);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            u.q[i] = (rf_i32)((rf_ld_u32<ALIGN>(qs + 4 * i) >> shift) & 0x0f0f0f0fu);
        }
        int sc, m;
        rf_scale_min_k4(b + 4, s, sc, m);
        u.a0 = u.a1 = rf_ld_half(b) * (float)sc;
        u.m = -rf_ld_half(b + 2) * (float)m;
    }
};

// Q5_K: as Q4_K with 32 bytes of fifth bits (bit j of byte l: weight 32 j + l) before qs.
struct rf_q5_k {
    enum { QK = 256, BYTES = 176, ALIGN = 16, LUT = 0, MIN32 = 1, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        int sc, m;
        rf_scale_min_k4(b + 4, i >> 5, sc, m);
        const float dl = rf_ld_half(b) * (float)sc, ml = rf_ld_half(b + 2) * (float)m;
        const rf_u8 byte = b[48 + (i >> 6) * 32 + (i & 31)];
        const int high = (b[16 + (i & 31)] >> (i >> 5)) & 1;
        const int q = ((i & 32) ? (byte >> 4) : (byte & 15)) | (high << 4);
        return rf_mul_rn(dl, (float)q) - ml;
    }
    RF_DEVICE static void unit(const rf_u8* b, int s, const rf_i8*, rf_unit& u) {
        const rf_u8* qs = b + 48 + (s >> 1) * 32;
        const int shift = 4 * (s & 1);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const rf_u32 low = (rf_ld_u32<ALIGN>(qs + 4 * i) >> shift) & 0x0f0f0f0fu;
            const rf_u32 high = (rf_ld_u32<ALIGN>(b + 16 + 4 * i) >> s) & 0x01010101u;
            u.q[i] = (rf_i32)(low | (high << 4));
        }
        int sc, m;
        rf_scale_min_k4(b + 4, s, sc, m);
        u.a0 = u.a1 = rf_ld_half(b) * (float)sc;
        u.m = -rf_ld_half(b + 2) * (float)m;
    }
};

// Q6_K: 128 bytes of low nibbles, 64 bytes of high 2 bits, 16 signed 8-bit scales, f16 d;
// group g of 16: w = d * scale_g * (q - 32).
struct rf_q6_k {
    enum { QK = 256, BYTES = 210, ALIGN = 2, LUT = 0, MIN32 = 0, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        const float dl = rf_ld_half(b + 208) * (float)(rf_i8)b[192 + (i >> 4)];
        const int half = i >> 7, k = (i >> 5) & 3, l = i & 31;
        const rf_u8 low_byte = b[half * 64 + l + 32 * (k & 1)];
        const int low = k < 2 ? (low_byte & 15) : (low_byte >> 4);
        const int high = (b[128 + half * 32 + l] >> (2 * k)) & 3;
        return dl * (float)((low | (high << 4)) - 32);
    }
    RF_DEVICE static void unit(const rf_u8* b, int s, const rf_i8*, rf_unit& u) {
        const int half = s >> 2, k = s & 3;
        const rf_u8* ql = b + half * 64 + 32 * (k & 1);
        const rf_u8* qh = b + 128 + half * 32;
        const int lshift = 4 * (k >> 1), hshift = 2 * k;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const rf_u32 low = (rf_ld_u32<ALIGN>(ql + 4 * i) >> lshift) & 0x0f0f0f0fu;
            const rf_u32 high = (rf_ld_u32<ALIGN>(qh + 4 * i) >> hshift) & 0x03030303u;
            u.q[i] = rf_centre<32u, 6u>(low | (high << 4));
        }
        const float d = rf_ld_half(b + 208);
        u.a0 = d * (float)(rf_i8)b[192 + 2 * s];
        u.a1 = d * (float)(rf_i8)b[193 + 2 * s];
    }
};

// The 6-bit scale of IQ4_XS group j, minus 32.
RF_DEVICE int rf_iq4xs_scale(const rf_u8* b, int j) {
    const int low = (b[4 + (j >> 1)] >> (4 * (j & 1))) & 15;
    const int high = (rf_ld_u16(b + 2) >> (2 * j)) & 3;
    return (low | (high << 4)) - 32;
}

// IQ4_XS: f16 d, u16 high scale bits, 4 bytes of low scale nibbles, 128 bytes of nibbles
// (16 per group of 32, laid out as Q4_0); group j: w = d * (scale_j - 32) * kvalues[q].
struct rf_iq4_xs {
    enum { QK = 256, BYTES = 136, ALIGN = 8, LUT = 1, MIN32 = 0, MIN16 = 0 };
    RF_DEVICE static float value(const rf_u8* b, int i) {
        const float dl = rf_ld_half(b) * (float)rf_iq4xs_scale(b, i >> 5);
        const rf_u8 byte = b[8 + (i >> 5) * 16 + (i & 15)];
        const int q = (i & 16) ? (byte >> 4) : (byte & 15);
        return dl * (float)rf_kvalues_iq4nl[q];
    }
    RF_DEVICE static void unit(const rf_u8* b, int s, const rf_i8* lut, rf_unit& u) {
        rf_nibbles32<ALIGN>(b + 8 + 16 * s, u.q);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            u.q[i] = rf_lut4((rf_u32)u.q[i], lut);
        }
        u.a0 = u.a1 = rf_ld_half(b) * (float)rf_iq4xs_scale(b, s);
    }
};

// ---- block geometry, as ggml-core's repr(C) blocks --------------------------------------

#define RF_CHECK_BLOCK(T, qk, bytes)                                                              \
    RF_STATIC_ASSERT(T::QK == (qk) && T::BYTES == (bytes), #T " block geometry");               \
    RF_STATIC_ASSERT(T::ALIGN == ((bytes) % 16 == 0 ? 16 : (bytes) % 8 == 0 ? 8 : (bytes) % 4 == 0 ? 4 : (bytes) % 2 == 0 ? 2 : 1), \
                     #T " alignment is gcd(BYTES, 16)")
RF_CHECK_BLOCK(rf_f32, 1, 4);
RF_CHECK_BLOCK(rf_f16, 1, 2);
RF_CHECK_BLOCK(rf_bf16, 1, 2);
RF_CHECK_BLOCK(rf_q4_0, 32, 2 + 16);
RF_CHECK_BLOCK(rf_q4_1, 32, 2 + 2 + 16);
RF_CHECK_BLOCK(rf_q5_0, 32, 2 + 4 + 16);
RF_CHECK_BLOCK(rf_q5_1, 32, 2 + 2 + 4 + 16);
RF_CHECK_BLOCK(rf_q8_0, 32, 2 + 32);
RF_CHECK_BLOCK(rf_q2_k, 256, 16 + 64 + 2 + 2);
RF_CHECK_BLOCK(rf_q3_k, 256, 32 + 64 + 12 + 2);
RF_CHECK_BLOCK(rf_q4_k, 256, 2 + 2 + 12 + 128);
RF_CHECK_BLOCK(rf_q5_k, 256, 2 + 2 + 12 + 32 + 128);
RF_CHECK_BLOCK(rf_q6_k, 256, 128 + 64 + 16 + 2);
RF_CHECK_BLOCK(rf_iq4_nl, 32, 2 + 16);
RF_CHECK_BLOCK(rf_iq4_xs, 256, 2 + 2 + 4 + 128);
RF_CHECK_BLOCK(rf_mxfp4, 32, 1 + 16);

#endif // ROCMFORGE_QUANTS_HIP_H
