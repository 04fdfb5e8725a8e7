#pragma once
// FP4 (E2M1) weights x FP8 (E4M3) activations, the route of LLM-FP4 recipes: the packed weight
// layout, its CPU packer, and the float64 reference with the error bound the GPU results must meet.
// Pure C++ (no CUDA).
//
// LLM-FP4 keeps one FP32 scale per output channel for the weights; its per-channel activation
// scales are folded into the weights ahead of time (as exponent biases), so a kernel needs only
//     y[m][n] = (sum_k x[m][k] * w[n][k]) * a_scale * w_scale[n]
// with x E4M3 values (A8) or E2M1 values handed over as E4M3 bytes (A4: every E2M1 value is exact
// in E4M3), w E2M1 values. Codes are those of quant::FloatGrid: E2M1 is Format::float_exmy(2, 1)
// (sign bit 3, bias 1, values 0, 0.5, 1, 1.5, 2, 3, 4, 6), E4M3 is Format::ocp_e4m3fn().
#include <cstdint>
#include <vector>

#include "kernels/layout.h"

namespace bitfold::kernels {

// Row-major E2M1 codes, two per byte: code k of a row in byte k / 2, low nibble for even k.
// Rows are padded with code 0 to a multiple of 32 codes (16 bytes), so every row starts 16-byte
// aligned and one 16-byte load holds 32 consecutive codes.
struct Fp4Layout {
  static constexpr int kKPad = 32;
  int64_t n = 0, k = 0;
  int64_t k_padded() const { return round_up(k, kKPad); }
  int64_t row_bytes() const { return k_padded() / 2; }
  int64_t bytes() const { return n * row_bytes(); }
};

// codes: E2M1 codes [n][ld] in 0..15. Fails (bitfold::Error) on a code > 15.
std::vector<uint8_t> pack_fp4(const uint8_t* codes, int64_t ld, int64_t n, int64_t k);
std::vector<uint8_t> unpack_fp4(const uint8_t* packed, int64_t n, int64_t k);

// The value of an E2M1 / E4M3 code (quant::FloatGrid), and the E4M3 byte of an E2M1 code.
double e2m1_value(uint8_t code);
double e4m3_value(uint8_t code);
uint8_t e2m1_to_e4m3(uint8_t code);

// Float64 reference: y[m][n] = sum_k e4m3(x[m][k]) * e2m1(w[n][k]) * a_scale * w_scale[n]
// (times x_scale[m], plus bias[n] and residual[m][n] when given), and sum_abs[m][n] =
// sum_k |x w| * |a_scale w_scale[n] (x_scale[m])|, the magnitude the error bound is taken from.
struct Fp4Reference {
  std::vector<double> y, sum_abs;
};
Fp4Reference fp4_gemm_ref(const uint8_t* x_e4m3, int64_t ldx, int64_t m, const uint8_t* w_packed, int64_t n,
                          int64_t k, float a_scale, const float* w_scale, const float* x_scale = nullptr,
                          const float* bias = nullptr, const float* residual = nullptr);

// How the GPU route accumulates: FP32 FMAs in some order (the GEMV), or the FP8 tensor cores via
// cuBLASLt, whose accumulator keeps fewer than FP32's bits within a k block before the partial
// sums are promoted to FP32 (DeepSeek-V3 §3.3.2 reports about 14 bits on Hopper).
enum class Fp4Accumulation : uint8_t { Fp32, TensorCore };

// |y_gpu - y_ref| may not exceed this. E2M1 x E4M3 products are exact in FP32 (2 + 4 significant
// bits), so only the summation differs from the exact sum: any order of K - 1 FP32 additions is
// off by at most gamma_(K-1) * sum_abs, gamma_j = j u / (1 - j u), u = 2^-24 (Higham, Thm. 3.1);
// the tensor-core route adds 2^-10 * sum_abs for its narrower in-block accumulator. Then the
// epilogue: up to four FP32 roundings (scales, bias, residual): 4 u (|y| + sum_abs), and the FP16 output:
// half an FP16 ulp, 2^-11 |y| (normal range) or 2^-25 (subnormal).
double fp4_error_bound(double y_ref, double sum_abs, int64_t k, Fp4Accumulation accumulation, bool fp16_out);

}  // namespace bitfold::kernels
