// Route (b): binary tensor cores (mma b1 AND+POPC) on bit-planes (decode_skeleton.cuh).
#include "kernels/decode_skeleton.cuh"

namespace bitfold::kernels {

namespace {
template <int P, int Q>
void run_btc(GemmContext& ctx, const BtcWeight& w, const PlaneAct& x, const Epilogue& epi,
             Stream stream, const DecodeTuning& tuning) {
  using Pol = detail::BtcPolicy<P, Q>;
  // Two token tiles per warp only where the diagonal accumulators still fit in registers.
  if (x.m <= 8 || P * Q > 24)
    detail::launch_skeleton<Pol, 1>(ctx.impl(), w.data, w.n, w.k, x.data, x.ld_words, x.m, epi, stream, tuning);
  else if constexpr (P * Q <= 24)
    detail::launch_skeleton<Pol, 2>(ctx.impl(), w.data, w.n, w.k, x.data, x.ld_words, x.m, epi, stream, tuning);
}
}  // namespace

void gemm_btc(GemmContext& ctx, const BtcWeight& w, const PlaneAct& x, const Epilogue& epi,
              Stream stream, const DecodeTuning& tuning) {
  if (w.k != x.k) detail::fail_rt("gemm_btc: weight K {} != activation K {}", w.k, x.k);
  if (x.ld_words < btc_act_ld_words(x.k) || x.ld_words % 4 != 0)
    detail::fail_rt("gemm_btc: activation planes need ld_words >= {} and a multiple of 4, got {}",
         btc_act_ld_words(x.k), x.ld_words);
  if (!epi.w_scale && (epi.y_f16 || epi.y_f32)) detail::fail_rt("gemm_btc: w_scale is required");
  if (x.m == 0 || w.n == 0) return;
  const int key = w.bits * 16 + x.bits;
  switch (key) {
    case 2 * 16 + 8: return run_btc<2, 8>(ctx, w, x, epi, stream, tuning);
    case 3 * 16 + 8: return run_btc<3, 8>(ctx, w, x, epi, stream, tuning);
    case 4 * 16 + 4: return run_btc<4, 4>(ctx, w, x, epi, stream, tuning);
    case 4 * 16 + 8: return run_btc<4, 8>(ctx, w, x, epi, stream, tuning);
    case 6 * 16 + 6: return run_btc<6, 6>(ctx, w, x, epi, stream, tuning);
    case 6 * 16 + 8: return run_btc<6, 8>(ctx, w, x, epi, stream, tuning);
    default:
      detail::fail_rt("gemm_btc: W{}A{} is not instantiated (W2A8, W3A8, W4A4, W4A8, W6A6, W6A8)", w.bits, x.bits);
  }
}

}  // namespace bitfold::kernels
