#pragma once
// gemm_quantized: one entry point that picks, per (M, N, K, p, q), the route that was fastest
// on the H200 (bench/kernels.cu measures every route and emits route_table.inc), among the
// routes whose operands the caller has. Where the table says FP16 cuBLAS beat every quantized
// route, that is what runs, provided the caller keeps FP16 operands (otherwise the fastest
// quantized route runs).
#include <cstdint>
#include <string_view>

#include "kernels/gemm.h"

namespace bitfold::kernels {

enum class Route : uint8_t {
  Decode, Wgmma128, Wgmma256, UnpackLt, Int8Lt, Btc, Fp16, Gemv, Fp4Gemv, Fp4Lt, Int8Tma, UnpackTma, Fp4Tma, Count
};

// The float formats in the (p, q) of the route table and of choose_route (integer formats are
// their bit widths): E2M1 weights are p = kE2M1; activations are q = kE4M3 (FP8) or q = kE2M1
// (FP4 values, handed over as E4M3 bytes).
constexpr int kE2M1 = 104;
constexpr int kE4M3 = 108;
std::string_view route_name(Route route);

// Which operand layouts a caller holds (bit mask of 1 << Route): Gemv needs gemv weights and int8
// codes (and M <= 4), decode / wgmma / unpack-lt frag weights and int8 codes, Int8Lt int8 weight rows (p = 8) and int8 codes, Btc bit-planes
// of both (Int8Tma like Int8Lt, UnpackTma like UnpackLt), Fp16 FP16 copies of both, Fp4Gemv (M <= 8) / Fp4Lt / Fp4Tma E2M1 weights and E4M3 activations.
using RouteMask = uint32_t;
constexpr RouteMask route_bit(Route r) { return RouteMask(1) << unsigned(r); }

// One measured point: the routes ranked fastest first (Count terminates a short list).
struct RoutePoint {
  int64_t n, k;
  int p, q;
  int64_t m;
  Route ranked[int(Route::Count)];
};
// The measured table (route_table.inc); empty until a benchmark run filled it.
const RoutePoint* route_table(int64_t& count);

// The fastest available route for a shape: the table point with the same (p, q), the nearest
// (N, K) and then the nearest M (both in log scale); a built-in rule when the table has no
// point for (p, q).
Route choose_route(int64_t m, int64_t n, int64_t k, int p, int q, RouteMask available);

struct QuantLinear {
  int p = 0;
  int64_t n = 0, k = 0;
  GemvWeight gemv;                  // optional; enables the GEMV (M <= 4)
  FragWeight frag;                  // optional; FragOrder::Decode enables decode + unpack-lt,
                                    // Natural enables wgmma + unpack-lt
  BtcWeight btc;                    // optional
  const int8_t* rows = nullptr;     // optional int8 rows [n][ld_rows] (p = 8)
  int64_t ld_rows = 0;
  const uint16_t* w_f16 = nullptr;  // optional dequantized FP16 weight [n][k]
  Fp4Weight fp4;                    // optional E2M1 weights (p = kE2M1)
};
struct QuantActivations {
  int q = 0;
  Int8Act codes;                    // optional
  PlaneAct planes;                  // optional
  const uint16_t* x_f16 = nullptr;  // optional real-valued FP16 activations [m][k]
  Fp8Act fp8;                       // optional E4M3 bytes (q = kE4M3, or kE2M1 for FP4 values)
};

// Runs the chosen route and returns it. The FP16 route computes y_f16 = x_f16 . w_f16^T and is
// only eligible when the epilogue asks for y_f16 alone (no bias, residual, other outputs).
Route gemm_quantized(GemmContext& ctx, const QuantLinear& w, const QuantActivations& x,
                     const Epilogue& epi, Stream stream);

}  // namespace bitfold::kernels
