// Route (a) for small M: frag-packed p-bit weights -> int8 mma.sync (decode_skeleton.cuh).
#include <algorithm>

#include "kernels/decode_skeleton.cuh"

namespace bitfold::kernels {

namespace detail {

// M <= 8: the latency-bound case. One CTA = one 16-row tile and 8 warps that split K; each warp
// issues its weight tiles AND the matching activation words together, a batch ahead, so a call
// costs one DRAM round trip plus a shared-memory reduction: no staging barrier, no split-K
// atomics, no ticket. Weights are in the decode k order, so a lane's eight B-fragment words are
// 32 contiguous activation bytes (two 16-byte loads that hit L1/L2: every CTA reads the same X),
// and they stay offset-binary (v = w + 2^(p-1), shift + mask to unpack) in an unsigned x signed
// mma; a second mma against all-ones gives sum_k x, and acc - 2^(p-1) sum_k x is the result.
struct DirectParams {
  const uint8_t* w;
  int64_t k_tiles, row_tiles, n, m, k;
  const int8_t* x;
  int64_t ldx;
  Epilogue epi;
};

template <int P>
struct DirectBatch {
  // tiles per load batch: as many as fit in the 128-register budget next to the next batch
  static constexpr int kTiles = P <= 3 ? 3 : 2;
  FragData<P> w[kTiles];
  uint32_t x[kTiles][8];  // [2 s + h]: B fragment register h of k32 step s
};

// The 32 activation bytes [k0, k0 + 32) of one row, zero past k_total.
__device__ __forceinline__ void load_x32(const int8_t* row, int64_t k0, int64_t k_total, uint32_t (&x)[8]) {
  if (k0 + 32 <= k_total) {
    const uint4 a = *reinterpret_cast<const uint4*>(row + k0);
    const uint4 b = *reinterpret_cast<const uint4*>(row + k0 + 16);
    x[0] = a.x, x[1] = a.y, x[2] = a.z, x[3] = a.w, x[4] = b.x, x[5] = b.y, x[6] = b.z, x[7] = b.w;
    return;
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    uint32_t v = 0;
    for (int c = 0; c < 4; ++c) {
      const int64_t k = k0 + 4 * j + c;
      if (k < k_total) v |= uint32_t(uint8_t(row[k])) << (8 * c);
    }
    x[j] = v;
  }
}

template <int P>
__global__ void __launch_bounds__(256, 2) decode_direct_kernel(const DirectParams p) {
  constexpr int T = DirectBatch<P>::kTiles;
  constexpr uint32_t kOnes[4] = {0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u};
  // Partial sums of the 8 warps, double-buffered by row-tile parity (see the barrier below).
  __shared__ int red[2][8][8][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  const int64_t t0 = p.k_tiles * warp / 8, t1 = p.k_tiles * (warp + 1) / 8;
  const bool has_tok = g < p.m;
  const int8_t* xrow = p.x + (has_tok ? g : 0) * p.ldx;
  const int64_t stride = gridDim.x;

  auto load = [&](int64_t rt, int64_t t, DirectBatch<P>& b) {
    const uint8_t* wrow = p.w + rt * p.k_tiles * (256 * P);
#pragma unroll
    for (int i = 0; i < T; ++i) {
      if (t + i >= t1) break;
      load_frag<P, true>(wrow + (t + i) * (256 * P), lane, b.w[i]);
      if (has_tok) {
        load_x32(xrow, (t + i) * 128 + 32 * tq, p.k, b.x[i]);
      } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) b.x[i][j] = 0;
      }
    }
  };
  // Persistent CTAs: row tiles blockIdx.x, + gridDim.x, ...; each warp streams its k range of
  // one row tile after the other, the next batch always in flight, across row-tile boundaries.
  DirectBatch<P> cur, nxt;
  if (int64_t(blockIdx.x) < p.row_tiles && t0 < t1) load(blockIdx.x, t0, cur);
  int parity = 0;
  for (int64_t rt = blockIdx.x; rt < p.row_tiles; rt += stride) {
    int acc[4] = {0, 0, 0, 0}, sum[4] = {0, 0, 0, 0};
    for (int64_t t = t0; t < t1; t += T) {
      if (t + T < t1)
        load(rt, t + T, nxt);
      else if (rt + stride < p.row_tiles)
        load(rt + stride, t0, nxt);
#pragma unroll
      for (int i = 0; i < T; ++i) {
        if (t + i >= t1) break;
#pragma unroll
        for (int s = 0; s < 4; ++s) {
          uint32_t a[4];
#pragma unroll
          for (int r = 0; r < 4; ++r) a[r] = unpack_unit_u<P>(cur.w[i], 4 * s + r);
          mma_u8s8(acc, a, cur.x[i][2 * s], cur.x[i][2 * s + 1]);
          mma_u8s8(sum, kOnes, cur.x[i][2 * s], cur.x[i][2 * s + 1]);
        }
      }
      cur = nxt;
    }
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      red[parity][warp][r][lane] = acc[r];
      red[parity][warp][4 + r][lane] = sum[r];
    }
    // After this barrier warp 0 reads buffer `parity` while the others go on into the next row
    // tile and write the other buffer; nobody writes `parity` again before passing the next
    // barrier, which warp 0 reaches only after its reads.
    __syncthreads();
    if (warp == 0) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        int v = 0, sx = 0;
#pragma unroll
        for (int w = 0; w < 8; ++w) v += red[parity][w][r][lane], sx += red[parity][w][4 + r][lane];
        const int64_t n = rt * 16 + g + 8 * (r >> 1), m = 2 * tq + (r & 1);
        if (n < p.n && m < p.m) store_out(p.epi, m, n, v - (1 << (P - 1)) * sx);
      }
    }
    parity ^= 1;
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
  // Two CTAs of 8 warps per SM (the register limit), persistent over the row tiles.
  const int64_t grid = std::min<int64_t>(p.row_tiles, 2 * int64_t(sm_count()));
  decode_direct_kernel<P><<<unsigned(grid), 256, 0, stream>>>(p);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

}  // namespace detail

namespace {
template <int P>
void run_decode(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                Stream stream, const DecodeTuning& tuning) {
  using detail::Int8FragPolicy;
  if (x.m <= 8 && tuning.kernel == DecodeKernel::Direct)
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
  if (w.order != FragOrder::Decode) detail::fail_rt("gemm_decode: the weights must be packed in FragOrder::Decode");
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
