// Route (a) for small M: frag-packed p-bit weights -> int8 mma.sync (decode_skeleton.cuh).
#include "kernels/decode_skeleton.cuh"

namespace bitfold::kernels {

namespace detail {

// M <= 8: the latency-bound case. One CTA = one 16-row tile and 8 warps that split K; each warp
// issues its weight tiles AND the matching activation words (4-byte loads that hit L1/L2: every
// CTA reads the same X) together, a batch ahead, so a call costs one DRAM round trip plus a
// shared-memory reduction: no staging barrier, no split-K atomics, no ticket.
struct DirectParams {
  const uint8_t* w;
  int64_t k_tiles, row_tiles, n, m, k;
  const int8_t* x;
  int64_t ldx;
  Epilogue epi;
};

template <int P>
struct DirectBatch {
  static constexpr int kTiles = P <= 2 ? 4 : (P <= 4 ? 3 : 2);
  FragData<P> w[kTiles];
  uint32_t x[kTiles][8];  // B fragments of the 4 k32 steps: [2 s + h] = k 32 s + 16 h + 4 t
};

__device__ __forceinline__ uint32_t load_x_word(const int8_t* row, int64_t k, int64_t k_total) {
  if (k + 4 <= k_total) return *reinterpret_cast<const uint32_t*>(row + k);
  uint32_t v = 0;
  for (int c = 0; c < 4; ++c)
    if (k + c < k_total) v |= uint32_t(uint8_t(row[k + c])) << (8 * c);
  return v;
}

template <int P>
__global__ void __launch_bounds__(256, 2) decode_direct_kernel(const DirectParams p) {
  constexpr int T = DirectBatch<P>::kTiles;
  __shared__ int red[8][4][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  const int64_t rt = blockIdx.x;
  const int64_t t0 = p.k_tiles * warp / 8, t1 = p.k_tiles * (warp + 1) / 8;
  const uint8_t* wrow = p.w + rt * p.k_tiles * (256 * P);
  const bool has_tok = g < p.m;
  const int8_t* xrow = p.x + (has_tok ? g : 0) * p.ldx;

  auto load = [&](int64_t t, DirectBatch<P>& b) {
#pragma unroll
    for (int i = 0; i < T; ++i) {
      if (t + i >= t1) break;
      load_frag<P, true>(wrow + (t + i) * (256 * P), lane, b.w[i]);
#pragma unroll
      for (int j = 0; j < 8; ++j)
        b.x[i][j] = has_tok ? load_x_word(xrow, (t + i) * 128 + 16 * j + 4 * tq, p.k) : 0u;
    }
  };
  int acc[4] = {0, 0, 0, 0};
  DirectBatch<P> cur, nxt;
  if (t0 < t1) load(t0, cur);
  for (int64_t t = t0; t < t1; t += T) {
    if (t + T < t1) load(t + T, nxt);
#pragma unroll
    for (int i = 0; i < T; ++i) {
      if (t + i >= t1) break;
#pragma unroll
      for (int s = 0; s < 4; ++s) {
        uint32_t a[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) a[r] = unpack_unit<P>(cur.w[i], 4 * s + r);
        mma_s8(acc, a, cur.x[i][2 * s], cur.x[i][2 * s + 1]);
      }
    }
    cur = nxt;
  }
#pragma unroll
  for (int r = 0; r < 4; ++r) red[warp][r][lane] = acc[r];
  __syncthreads();
  if (warp != 0) return;
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    int v = 0;
#pragma unroll
    for (int w = 0; w < 8; ++w) v += red[w][r][lane];
    const int64_t n = rt * 16 + g + 8 * (r >> 1), m = 2 * tq + (r & 1);
    if (n < p.n && m < p.m) store_out(p.epi, m, n, v);
  }
}

template <int P>
void launch_direct(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream) {
  DirectParams p{};
  p.w = w.data;
  p.k_tiles = ceil_div(w.k, 128);
  p.row_tiles = ceil_div(w.n, 16);
  p.n = w.n;
  p.m = x.m;
  p.k = x.k;
  p.x = x.data;
  p.ldx = x.ld;
  p.epi = epi;
  BITFOLD_CU_CHECK(p.row_tiles < (int64_t(1) << 31), "too many rows");
  decode_direct_kernel<P><<<unsigned(p.row_tiles), 256, 0, stream>>>(p);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

}  // namespace detail

namespace {
template <int P>
void run_decode(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                Stream stream, const DecodeTuning& tuning) {
  using detail::Int8FragPolicy;
  if (x.m <= 8 && !tuning.staged)
    detail::launch_direct<P>(w, x, epi, stream);
  else if (x.m <= 8)
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
