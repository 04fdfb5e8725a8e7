#pragma once
// Quantized linear layers on the GPU: Y[M,N] = X[M,K] . W[N,K]^T with integer codes, int32
// accumulation and a dequantizing epilogue. All pointers are device pointers; every call is
// asynchronous on `stream` and checks its launch. Layouts: kernels/layout.h.
//
// Routes (docs/kernels.md has the measurements that choose between them):
//   gemm_gemv         M <= 4: the CUDA-core decode GEMV over the row-major gemv layout (16-byte
//                     loads, lop3 + dp4a), the fastest decode route (docs/kernels.md).
//   gemm_decode       M <= 32 (any M works): packed p-bit weights (decode k order) streamed with
//                     16-byte loads straight into int8 mma.sync fragments; M <= 8 splits K over
//                     the warps of a CTA, larger M over CTAs.
//   gemm_wgmma        large M: packed p-bit weights unpacked in registers as the A operand of
//                     wgmma s8 (sm_90a), activations through a cp.async pipeline, fused epilogue.
//   gemm_unpack_lt    unpack pre-pass to int8 rows + cuBLASLt int8 GEMM + epilogue kernel.
//   gemm_int8_lt      W8A8 with plain int8 weights: cuBLASLt int8 GEMM + epilogue kernel.
//   gemm_int8_tma     large M, int8 weight rows: own warp-specialized wgmma kernel (sm_90a; bulk
//                     tensor copies, shared-memory operands), the epilogue fused.
//   gemm_unpack_tma   unpack pre-pass to int8 rows + gemm_int8_tma.
//   gemm_fp4_tma      FP4 weights x FP8 activations, large M: E2M1 -> E4M3 pre-pass + the same kernel
//                     on E4M3 operands (f32 accumulators), the epilogue fused.
//   gemm_btc          route (b): bit-planes on binary tensor cores (mma b1 AND+POPC), any p, q.
//   gemm_fp4_gemv     FP4 (E2M1) weights x FP8 (E4M3) activations, M <= 8: CUDA-core GEMV,
//                     E2M1 decoded by bit moves into FP32, FP32 FMA accumulation.
//   gemm_fp4_lt       the same operands, any M: E2M1 -> E4M3 pre-pass + cuBLASLt FP8 GEMM (FP32
//                     out) + epilogue kernel.
#include <cstdint>
#include <memory>

#include "kernels/fp4_layout.h"
#include "kernels/layout.h"

struct CUstream_st;

namespace bitfold::kernels {

using Stream = CUstream_st*;

// y[m,n] = acc[m,n] * w_scale[n] * (x_scale ? x_scale[m] : 1) + bias[n] + residual[m,n],
// written to any of y_f16 / y_f32 (the dequantized output) and y_i32 (the raw accumulator).
// FP16 buffers are IEEE half, passed as uint16_t. Leading dimensions are in elements.
struct Epilogue {
  const float* w_scale = nullptr;      // [N], required
  const float* x_scale = nullptr;      // [M], optional: per-token dynamic baseline
  const float* bias = nullptr;         // [N], optional
  const uint16_t* residual = nullptr;  // [M][ld_residual] FP16, optional
  int64_t ld_residual = 0;
  uint16_t* y_f16 = nullptr;
  int64_t ld_f16 = 0;
  float* y_f32 = nullptr;
  int64_t ld_f32 = 0;
  int32_t* y_i32 = nullptr;
  int64_t ld_i32 = 0;
};

struct FragWeight {  // FragLayout; gemm_decode reads FragOrder::Decode, gemm_wgmma Natural
  const uint8_t* data = nullptr;
  int bits = 0;
  int64_t n = 0, k = 0;
  FragOrder order = FragOrder::Natural;
};
struct GemvWeight {  // GemvLayout; 16-byte aligned
  const uint8_t* data = nullptr;
  int bits = 0;
  int64_t n = 0, k = 0;
};
struct BtcWeight {  // BtcWeightLayout
  const uint8_t* data = nullptr;
  int bits = 0;
  int64_t n = 0, k = 0;
};
struct Fp4Weight {  // Fp4Layout: E2M1 codes, two per byte; 16-byte aligned
  const uint8_t* data = nullptr;
  int64_t n = 0, k = 0;
};
// Activation codes, one int8 per code. ld % 16 == 0 and data 16-byte aligned.
struct Int8Act {
  const int8_t* data = nullptr;
  int64_t ld = 0;
  int64_t m = 0, k = 0;
};
// FP8 E4M3 activation bytes [m][ld] (A4: E2M1 values as E4M3 bytes) and the per-tensor scale:
// x_real = a_scale * value(code). ld % 16 == 0 and data 16-byte aligned.
struct Fp8Act {
  const uint8_t* data = nullptr;
  int64_t ld = 0;
  int64_t m = 0, k = 0;
  float a_scale = 1.0f;
  // Every activation is an E2M1 value (W4A4-FP recipes): the GEMV then multiplies the exact
  // integers 2·w and 2·x with dp4a instead of FP32 FMAs (same result, a third of the instructions).
  bool e2m1 = false;
};
// Activation bit-planes [bits][m][ld_words] (pack_btc_act layout); ld_words >= btc_act_ld_words(k).
struct PlaneAct {
  const uint32_t* data = nullptr;
  int64_t ld_words = 0;
  int bits = 0;
  int64_t m = 0, k = 0;
};

// Holds what the GEMMs need between calls: cuBLAS/cuBLASLt handles and their workspace, the
// split-K accumulators of the decode kernels (self-resetting, so one context belongs to one
// stream at a time), cached cuBLASLt plans and the unpack pre-pass scratch.
class GemmContext {
 public:
  GemmContext();
  ~GemmContext();
  GemmContext(const GemmContext&) = delete;
  GemmContext& operator=(const GemmContext&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Decode kernels over the frag layout, kept side by side (bench measures them): Direct (default,
// M <= 8: persistent CTAs, register prefetch), Staged (the split-K skeleton; every M > 8 runs
// it). For M <= 4 the GEMV (gemm_gemv) is faster on most shapes (docs/kernels.md).
enum class DecodeKernel : uint8_t { Direct, Staged };
struct DecodeTuning {
  int ctas_per_sm = 4;  // staged kernel: split K over CTAs until the grid has this many per SM
  DecodeKernel kernel = DecodeKernel::Direct;
};

void gemm_decode(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                 Stream stream, const DecodeTuning& tuning = {});
// The decode GEMV, M <= 4, p in {2, 3, 4, 6, 8}, K <= 65536 (and M x K within shared memory).
// pdl (default): launched as a programmatic dependent of the previous kernel in the stream, so
// that its launch and its weight loads (the weights depend on nothing) overlap that kernel's end;
// everything else (activations, epilogue operands, outputs) is touched only after that kernel
// has completed (griddepcontrol.wait), so stream order holds as for a plain launch.
struct GemvOptions {
  bool pdl = true;
};
void gemm_gemv(const GemvWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream,
               const GemvOptions& options = {});
// FP4 routes: y = acc * a_scale * w_scale[n] (* x_scale[m]) + bias[n] + residual[m, n], acc the
// FP32 sum of the exact E2M1 x E4M3 products (epi.y_i32 must be null: there is no integer sum).
// The GEMV: M <= 8, any K (activations are staged in shared-memory chunks); launched like
// gemm_gemv (GemvOptions::pdl). The Lt route: K % 16 == 0 (cuBLASLt FP8), any M; the E4M3 copy of
// the weights (N x round_up(K, 16) bytes) lives in the context's scratch.
void gemm_fp4_gemv(const Fp4Weight& w, const Fp8Act& x, const Epilogue& epi, Stream stream,
                   const GemvOptions& options = {});
void gemm_fp4_lt(GemmContext& ctx, const Fp4Weight& w, const Fp8Act& x, const Epilogue& epi, Stream stream);
// E2M1 (Fp4Layout) -> E4M3 bytes [n][ldw]; columns [k, ldw) are zeroed. ldw % 4 == 0, ldw >= k.
void unpack_fp4_device(const Fp4Weight& w, uint8_t* out, int64_t ldw, Stream stream);
// tile_m: tokens per CTA tile, 128 or 256; 0 picks by M.
void gemm_wgmma(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                Stream stream, int tile_m = 0);
void gemm_unpack_lt(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                    Stream stream);
// w_rows: int8 codes [n][ldw]; K and ldw multiples of 16 (cuBLASLt int8 alignment).
void gemm_int8_lt(GemmContext& ctx, const int8_t* w_rows, int64_t ldw, int64_t n, const Int8Act& x,
                  const Epilogue& epi, Stream stream);
// w_rows: int8 codes [n][ldw]; ldw and x.ld multiples of 16, operands 16-byte aligned, any K.
void gemm_int8_tma(GemmContext& ctx, const int8_t* w_rows, int64_t ldw, int64_t n, const Int8Act& x,
                   const Epilogue& epi, Stream stream);
void gemm_unpack_tma(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                     Stream stream);
// Any M, any K; the E4M3 copy of the weights (N x round_up(K, 16) bytes) lives in the context.
void gemm_fp4_tma(GemmContext& ctx, const Fp4Weight& w, const Fp8Act& x, const Epilogue& epi, Stream stream);
void gemm_btc(GemmContext& ctx, const BtcWeight& w, const PlaneAct& x, const Epilogue& epi,
              Stream stream, const DecodeTuning& tuning = {});

// The epilogue on its own: acc int32 [m][ld_acc] -> epi.
void epilogue_i32(const int32_t* acc, int64_t ld_acc, int64_t m, int64_t n, const Epilogue& epi,
                  Stream stream);

// Peers (cuBLAS), row-major: y[m][n] = x[m][k] . w[n][k]^T.
// FP16 in and out, FP32 accumulation (cublasGemmEx, CUBLAS_COMPUTE_32F).
void cublas_fp16(GemmContext& ctx, int64_t m, int64_t n, int64_t k, const uint16_t* x,
                 const uint16_t* w, uint16_t* y, Stream stream);
// int8 in, int32 out (cuBLASLt, CUBLAS_COMPUTE_32I); ldx, ldw multiples of 16.
void cublaslt_int8(GemmContext& ctx, int64_t m, int64_t n, int64_t k, const int8_t* x, int64_t ldx,
                   const int8_t* w, int64_t ldw, int32_t* y, Stream stream);
// FP8 e4m3 in, FP16 out, FP32 accumulation (cuBLASLt).
void cublaslt_fp8(GemmContext& ctx, int64_t m, int64_t n, int64_t k, const uint8_t* x,
                  const uint8_t* w, uint16_t* y, Stream stream);
// FP8 e4m3 in, FP32 out [m][round_up(n, 16)] (the GEMM of gemm_fp4_lt); ldx, ldw multiples of 16.
// On the H200 cuBLASLt 13.0 answers status 15 (not supported) unless n % 16 == 0.
void cublaslt_fp8_f32(GemmContext& ctx, int64_t m, int64_t n, int64_t k, const uint8_t* x, int64_t ldx,
                      const uint8_t* w, int64_t ldw, float* y, Stream stream);

// Device-side packers (same bytes as the CPU packers of layout.h). codes: int8 [n][ld].
void pack_frag_device(const int8_t* codes, int64_t ld, int64_t n, int64_t k, int bits, uint8_t* out,
                      Stream stream, FragOrder order = FragOrder::Natural);
void pack_gemv_device(const int8_t* codes, int64_t ld, int64_t n, int64_t k, int bits, uint8_t* out,
                      Stream stream);
void pack_btc_weight_device(const int8_t* codes, int64_t ld, int64_t n, int64_t k, int bits,
                            uint8_t* out, Stream stream);
// x: int8 [m][ldx] -> planes [bits][m][ld_words].
void pack_btc_act_device(const int8_t* x, int64_t ldx, int64_t m, int64_t k, int bits,
                         uint32_t* planes, int64_t ld_words, Stream stream);
// frag (either order) -> int8 rows [n][ldw] (the pre-pass of gemm_unpack_lt). Columns [k, ldw)
// are zeroed.
void unpack_frag_device(const FragWeight& w, int8_t* out, int64_t ldw, Stream stream);

}  // namespace bitfold::kernels
