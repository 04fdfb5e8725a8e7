// Route (a) for small M: frag-packed p-bit weights -> int8 mma.sync (decode_skeleton.cuh).
#include "kernels/decode_skeleton.cuh"

namespace bitfold::kernels {

namespace {
template <int P>
void run_decode(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                Stream stream, const DecodeTuning& tuning) {
  using detail::Int8FragPolicy;
  if (x.m <= 8)
    detail::launch_skeleton<Int8FragPolicy<P>, 1>(ctx.impl(), w.data, w.n, w.k, x.data, x.ld, x.m, epi, stream, tuning);
  else if (x.m <= 16)
    detail::launch_skeleton<Int8FragPolicy<P>, 2>(ctx.impl(), w.data, w.n, w.k, x.data, x.ld, x.m, epi, stream, tuning);
  else
    detail::launch_skeleton<Int8FragPolicy<P>, 4>(ctx.impl(), w.data, w.n, w.k, x.data, x.ld, x.m, epi, stream, tuning);
}
}  // namespace

void gemm_decode(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                 Stream stream, const DecodeTuning& tuning) {
  if (w.k != x.k) detail::fail_rt("gemm_decode: weight K {} != activation K {}", w.k, x.k);
  if (x.ld % 16 != 0) detail::fail_rt("gemm_decode: activation leading dimension {} is not a multiple of 16", x.ld);
  if (!epi.w_scale && (epi.y_f16 || epi.y_f32)) detail::fail_rt("gemm_decode: w_scale is required");
  if (x.m == 0 || w.n == 0) return;
  switch (w.bits) {
    case 2: return run_decode<2>(ctx, w, x, epi, stream, tuning);
    case 3: return run_decode<3>(ctx, w, x, epi, stream, tuning);
    case 4: return run_decode<4>(ctx, w, x, epi, stream, tuning);
    case 6: return run_decode<6>(ctx, w, x, epi, stream, tuning);
    case 8: return run_decode<8>(ctx, w, x, epi, stream, tuning);
    default: detail::fail_rt("gemm_decode: {}-bit weights are not instantiated (2, 3, 4, 6, 8)", w.bits);
  }
}

}  // namespace bitfold::kernels
