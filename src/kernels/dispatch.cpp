#include "kernels/dispatch.h"

#include <cmath>
#include <limits>
#include <span>

#include "core/error.h"

namespace bitfold::kernels {

namespace {
using enum Route;
constexpr Route E = Route::Count;
const RoutePoint kTable[] = {
#include "kernels/route_table.inc"
    {0, 0, 0, 0, 0, {E}},  // sentinel (never matched: p = 0)
};

bool route_ok_for(Route r, int64_t m, int p, int q) {
  const bool fp4 = p == kE2M1 && (q == kE4M3 || q == kE2M1);
  const bool int_p = p == 2 || p == 3 || p == 4 || p == 6 || p == 8;
  switch (r) {
    case Fp4Gemv: return fp4 && m <= 8;
    case Fp4Lt:
    case Fp4Tma: return fp4;
    case Fp16: return fp4 || int_p;
    case Gemv: return m <= 4 && (p == 2 || p == 3 || p == 4 || p == 6 || p == 8);
    case Int8Lt:
    case Int8Tma: return p == 8;
    case Btc: return (p == 2 && q == 8) || (p == 3 && q == 8) || (p == 4 && (q == 4 || q == 8)) ||
                     (p == 6 && (q == 6 || q == 8));
    case Count: return false;
    default: return int_p;
  }
}

Route fallback_rule(int64_t m, int p, int q, RouteMask available) {
  // For shapes and formats the table has no point for: the pattern of the H200 measurements
  // (bench/results/kernels-h200.md): streaming kernels for decode, FP16 cuBLAS in the middle
  // where no quantized route wins, the own int8 wgmma kernel with its fused epilogue (after the
  // unpack pre-pass) for large M.
  static const Route small[] = {Fp4Gemv, Gemv, Decode, Btc, Int8Lt, Fp16, Fp4Lt, UnpackLt, Wgmma128};
  static const Route middle[] = {Fp16, Int8Lt, Int8Tma, Fp4Tma, Fp4Lt, Wgmma128, UnpackLt, UnpackTma, Decode, Btc};
  static const Route large[] = {Int8Tma, Int8Lt, Fp4Tma, Fp4Lt, UnpackTma, UnpackLt, Wgmma256, Wgmma128, Fp16, Decode, Btc};
  const std::span<const Route> order = m <= 16 ? std::span<const Route>(small)
                                                : (m < 2048 ? std::span<const Route>(middle) : std::span<const Route>(large));
  for (Route r : order)
    if ((available & route_bit(r)) && route_ok_for(r, m, p, q)) return r;
  fail("gemm_quantized: no route for p = {}, q = {} with the operands given", p, q);
}
}  // namespace

std::string_view route_name(Route route) {
  switch (route) {
    case Decode: return "decode";
    case Wgmma128: return "wgmma128";
    case Wgmma256: return "wgmma256";
    case UnpackLt: return "unpack+cublasLt";
    case Int8Lt: return "cublasLt-int8";
    case Btc: return "btc";
    case Fp16: return "fp16-cublas";
    case Gemv: return "gemv";
    case Fp4Gemv: return "fp4-gemv";
    case Fp4Lt: return "fp4-unpack+cublasLt-fp8";
    case Int8Tma: return "int8-tma";
    case UnpackTma: return "unpack+int8-tma";
    case Fp4Tma: return "fp4-unpack+fp8-tma";
    case Count: break;
  }
  return "?";
}

const RoutePoint* route_table(int64_t& count) {
  count = int64_t(sizeof(kTable) / sizeof(kTable[0])) - 1;
  return kTable;
}

Route choose_route(int64_t m, int64_t n, int64_t k, int p, int q, RouteMask available) {
  // Nearest measured shape for (p, q) first, then the nearest M of that shape.
  double best_shape = std::numeric_limits<double>::infinity();
  int64_t shape_n = -1, shape_k = -1;
  for (const RoutePoint& pt : kTable) {
    if (pt.p != p || pt.q != q) continue;
    const double dist = std::abs(std::log(double(pt.n) / double(n))) + std::abs(std::log(double(pt.k) / double(k)));
    if (dist < best_shape) best_shape = dist, shape_n = pt.n, shape_k = pt.k;
  }
  if (shape_n < 0) return fallback_rule(m, p, q, available);
  double best_m = std::numeric_limits<double>::infinity();
  const RoutePoint* chosen = nullptr;
  for (const RoutePoint& pt : kTable) {
    if (pt.p != p || pt.q != q || pt.n != shape_n || pt.k != shape_k) continue;
    const double dist = std::abs(std::log(double(pt.m) / double(std::max<int64_t>(m, 1))));
    if (dist < best_m) best_m = dist, chosen = &pt;
  }
  for (Route r : chosen->ranked) {
    if (r == Count) break;
    if ((available & route_bit(r)) && route_ok_for(r, m, p, q)) return r;
  }
  return fallback_rule(m, p, q, available);
}

Route gemm_quantized(GemmContext& ctx, const QuantLinear& w, const QuantActivations& x, const Epilogue& epi,
                     Stream stream) {
  RouteMask available = 0;
  const bool codes = x.codes.data != nullptr;
  if (w.gemv.data && codes && x.codes.m <= 4) available |= route_bit(Gemv);
  if (w.frag.data && codes) {
    available |= route_bit(UnpackLt) | route_bit(UnpackTma);
    if (w.frag.order == FragOrder::Decode)
      available |= route_bit(Decode);
    else
      available |= route_bit(Wgmma128) | route_bit(Wgmma256);
  }
  if (w.rows && codes && w.p == 8) available |= route_bit(Int8Lt) | route_bit(Int8Tma);
  if (w.btc.data && x.planes.data) available |= route_bit(Btc);
  const bool f16_only = epi.y_f16 && !epi.y_f32 && !epi.y_i32 && !epi.bias && !epi.residual;
  if (w.w_f16 && x.x_f16 && f16_only) available |= route_bit(Fp16);
  const bool fp4 = w.fp4.data && x.fp8.data;
  if (fp4) available |= route_bit(Fp4Lt) | route_bit(Fp4Tma) | (x.fp8.m <= 8 ? route_bit(Fp4Gemv) : 0);
  const int64_t m = codes ? x.codes.m : (fp4 ? x.fp8.m : x.planes.m);
  const Route r = choose_route(m, w.n, w.k, w.p, x.q, available);
  switch (r) {
    case Gemv: gemm_gemv(w.gemv, x.codes, epi, stream); break;
    case Decode: gemm_decode(ctx, w.frag, x.codes, epi, stream); break;
    case Wgmma128: gemm_wgmma(ctx, w.frag, x.codes, epi, stream, 128); break;
    case Wgmma256: gemm_wgmma(ctx, w.frag, x.codes, epi, stream, 256); break;
    case UnpackLt: gemm_unpack_lt(ctx, w.frag, x.codes, epi, stream); break;
    case Int8Lt: gemm_int8_lt(ctx, w.rows, w.ld_rows, w.n, x.codes, epi, stream); break;
    case Int8Tma: gemm_int8_tma(ctx, w.rows, w.ld_rows, w.n, x.codes, epi, stream); break;
    case UnpackTma: gemm_unpack_tma(ctx, w.frag, x.codes, epi, stream); break;
    case Btc: gemm_btc(ctx, w.btc, x.planes, epi, stream); break;
    case Fp4Gemv: {
      Fp8Act act = x.fp8;
      act.e2m1 = act.e2m1 || x.q == kE2M1;  // E2M1 activations: the exact integer GEMV
      gemm_fp4_gemv(w.fp4, act, epi, stream);
      break;
    }
    case Fp4Lt: gemm_fp4_lt(ctx, w.fp4, x.fp8, epi, stream); break;
    case Fp4Tma: gemm_fp4_tma(ctx, w.fp4, x.fp8, epi, stream); break;
    case Fp16:
      if (epi.ld_f16 != w.n) fail("gemm_quantized: the FP16 route writes y_f16 with ld = N");
      cublas_fp16(ctx, m, w.n, w.k, x.x_f16, w.w_f16, epi.y_f16, stream);
      break;
    case Count: fail("gemm_quantized: no route");
  }
  return r;
}

}  // namespace bitfold::kernels
