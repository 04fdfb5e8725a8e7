// Route (a) for large M on sm_90a: frag-packed p-bit weights unpacked in registers into the A
// operand of wgmma m64nNk32 s8 (rows = output channels), activations (int8 codes, the B operand)
// through a 4-stage cp.async pipeline into 128-byte-swizzled shared memory, int32 accumulators
// in registers, then the dequantizing epilogue through shared memory with 16-byte stores.
//
// CTA = 2 warpgroups = 128 output channels x TM tokens (TM = 128 or 256), k step 128.
// Warpgroup wg handles channels [64 wg, 64 wg + 64); warp w of it the 16-row frag tile 4 wg + w,
// which is exactly the register A fragment of wgmma for its 16 rows.
#include <algorithm>

#include "kernels/device_common.cuh"
#include "kernels/wgmma_common.cuh"
#include "kernels/gemm_context.h"
#include "kernels/layout.h"

namespace bitfold::kernels::detail {

struct WgParams {
  const uint8_t* w;
  int64_t k_tiles, row_tiles;
  int64_t n, m, k;
  const int8_t* x;
  int64_t ldx;
  Epilogue epi;
  bool vec_ok;
};

// TM = 256: 4 stages, one CTA per SM (128 accumulator registers a thread). TM = 128: 3 stages
// and at most 128 registers, so that two CTAs share an SM and each hides the other's per-step
// barrier and wgmma drain.
template <int TM>
constexpr int wg_stages() {
  return TM == 256 ? 4 : 3;
}
template <int P, int TM>
constexpr int wg_smem_bytes() {
  // the pipeline, or the int32 epilogue tile [TM][132] that reuses it, whichever is larger
  return std::max(wg_stages<TM>() * (TM * 128 + 2048 * P), TM * 132 * 4) + 1024;
}

template <int P, int TM>
__global__ void __launch_bounds__(256, TM == 256 ? 1 : 2) wgmma_kernel(const WgParams p) {
  constexpr int kWgStages = wg_stages<TM>();
  constexpr int kXBytes = TM * 128;
  constexpr int kWBytes = 2048 * P;  // 8 frag tiles of 16 x 128
  constexpr int kStageBytes = kXBytes + kWBytes;
  constexpr int kAcc = TM / 2;
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, wg = warp >> 2;
  const int64_t n_blk = blockIdx.x, m_blk = blockIdx.y;
  const int64_t kt_count = p.k_tiles;

  auto load_stage = [&](int slot, int64_t kt) {
    uint8_t* xs = smem + slot * kStageBytes;
    uint8_t* ws = xs + kXBytes;
    for (int c = tid; c < TM * 8; c += 256) {
      const int r = c >> 3, ch = c & 7;
      const int64_t m = m_blk * TM + r;
      const int64_t k = kt * 128 + ch * 16;
      const int valid = (m < p.m) ? int(std::max<int64_t>(0, std::min<int64_t>(16, p.k - k))) : 0;
      const int8_t* src = valid > 0 ? p.x + m * p.ldx + k : p.x;
      cp_async16(xs + r * 128 + ((ch ^ (r & 7)) << 4), src, valid);
    }
    for (int c = tid; c < 128 * P; c += 256) {
      const int rtl = c / (16 * P), off = (c % (16 * P)) * 16;
      const int64_t rt = n_blk * 8 + rtl;
      const bool ok = rt < p.row_tiles;
      const uint8_t* src = ok ? p.w + (rt * p.k_tiles + kt) * (256 * P) + off : p.w;
      cp_async16(ws + rtl * 256 * P + off, src, ok ? 16 : 0);
    }
  };

  int acc[kAcc];
#pragma unroll
  for (int i = 0; i < kAcc; ++i) acc[i] = 0;
  fence_regs(acc);

  // One k step: wait for stage kt, refill the slot freed by step kt - 1, unpack this warp's
  // A fragments, four wgmmas, wait for them. Waiting at once (wait_group 0) is deliberate: the
  // next step's unpack defines wgmma input registers, and with a wgmma group still in flight
  // ptxas would serialize every wgmma (C7513) instead. The two warpgroups' wgmmas overlap.
  auto step = [&](int64_t kt) {
    cp_async_wait<kWgStages - 2>();
    fence_proxy_async();
    __syncthreads();
    const int64_t nk = kt + kWgStages - 1;
    if (nk < kt_count) load_stage(int(nk % kWgStages), nk);
    cp_async_commit();
    const int slot = int(kt % kWgStages);
    const uint8_t* wt = smem + slot * kStageBytes + kXBytes + (wg * 4 + (warp & 3)) * 256 * P;
    FragData<P> fd;
    load_frag<P, false>(wt, lane, fd);
    uint32_t a[4][4];
#pragma unroll
    for (int s = 0; s < 4; ++s)
#pragma unroll
      for (int r = 0; r < 4; ++r) a[s][r] = unpack_unit<P>(fd, 4 * s + r);
    const uint32_t xaddr = smem_addr(smem + slot * kStageBytes);
    uint64_t desc[4];
#pragma unroll
    for (int s = 0; s < 4; ++s) desc[s] = desc_sw128(xaddr + 32 * s);
    // Every input of the four wgmmas is computed before the fence (no wgmma input may be
    // defined inside a group).
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      asm volatile("" : "+l"(desc[s])::"memory");
#pragma unroll
      for (int r = 0; r < 4; ++r) asm volatile("" : "+r"(a[s][r])::"memory");
    }
    wgmma_fence();
#pragma unroll
    for (int s = 0; s < 4; ++s) WgmmaRS<TM>::mma(acc, a[s], desc[s]);
    wgmma_commit();
    wgmma_wait<0>();
  };

#pragma unroll
  for (int s = 0; s < kWgStages - 1; ++s) {
    if (s < kt_count) load_stage(s, s);
    cp_async_commit();
  }
  for (int64_t kt = 0; kt < kt_count; ++kt) step(kt);
  wgmma_wait<0>();
  fence_regs(acc);
  cp_async_wait<0>();
  __syncthreads();

  // Accumulator fragment: acc[4 j + r] is channel 16 w + g + 8 (r >> 1) of the warp's tile,
  // token 8 j + 2 t + (r & 1). Transpose through shared memory (row stride 132 words: the 32
  // lanes of one store hit 32 banks) so the stores to Y[m][n] are 16-byte vectors along n.
  constexpr int kLdc = 132;
  int32_t* ct = reinterpret_cast<int32_t*>(smem);
  const int g = lane >> 2, tq = lane & 3;
  const int ch_base = wg * 64 + (warp & 3) * 16 + g;
#pragma unroll
  for (int j = 0; j < TM / 8; ++j)
#pragma unroll
    for (int r = 0; r < 4; ++r) ct[(8 * j + 2 * tq + (r & 1)) * kLdc + ch_base + 8 * (r >> 1)] = acc[4 * j + r];
  __syncthreads();
  for (int idx = tid; idx < TM * 16; idx += 256) {
    const int tok = idx >> 4, c8 = (idx & 15) * 8;
    const int64_t m = m_blk * TM + tok, n0 = n_blk * 128 + c8;
    if (m >= p.m || n0 >= p.n) continue;
    const int4 lo = *reinterpret_cast<const int4*>(ct + tok * kLdc + c8);
    const int4 hi = *reinterpret_cast<const int4*>(ct + tok * kLdc + c8 + 4);
    const int32_t v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
    store_out8(p.epi, m, n0, p.n, v, p.vec_ok);
  }
}

template <int P, int TM>
void launch_wgmma(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream) {
  constexpr int smem = wg_smem_bytes<P, TM>();
  static bool configured = false;
  if (!configured) {
    BITFOLD_CUDA_CHECK(cudaFuncSetAttribute(wgmma_kernel<P, TM>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured = true;
  }
  WgParams p{};
  p.w = w.data;
  p.k_tiles = ceil_div(w.k, 128);
  p.row_tiles = ceil_div(w.n, 16);
  p.n = w.n;
  p.m = x.m;
  p.k = x.k;
  p.x = x.data;
  p.ldx = x.ld;
  p.epi = epi;
  p.vec_ok = epilogue_vec_ok(epi);
  const dim3 grid(unsigned(ceil_div(w.n, 128)), unsigned(ceil_div(x.m, TM)));
  BITFOLD_CU_CHECK(ceil_div(x.m, TM) < 65536, "too many tokens for one wgmma launch");
  wgmma_kernel<P, TM><<<grid, 256, smem, stream>>>(p);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

template <int P>
void run_wgmma(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream, int tile_m) {
  if (tile_m == 256)
    launch_wgmma<P, 256>(w, x, epi, stream);
  else
    launch_wgmma<P, 128>(w, x, epi, stream);
}

}  // namespace bitfold::kernels::detail

namespace bitfold::kernels {

void gemm_wgmma(GemmContext& /*ctx*/, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                Stream stream, int tile_m) {
  if (w.order != FragOrder::Natural) detail::fail_rt("gemm_wgmma: the weights must be packed in FragOrder::Natural");
  if (w.k != x.k) detail::fail_rt("gemm_wgmma: weight K {} != activation K {}", w.k, x.k);
  if (x.ld % 16 != 0 || reinterpret_cast<uintptr_t>(x.data) % 16 != 0)
    detail::fail_rt("gemm_wgmma: activations need 16-byte aligned rows (ld {})", x.ld);
  if (!epi.w_scale && (epi.y_f16 || epi.y_f32)) detail::fail_rt("gemm_wgmma: w_scale is required");
  if (x.m == 0 || w.n == 0) return;
  if (tile_m == 0) {
    // 256-token tiles halve the activation re-reads but need enough tiles to fill the GPU.
    tile_m = ceil_div(w.n, 128) * ceil_div(x.m, 256) >= detail::sm_count() ? 256 : 128;
  }
  if (tile_m != 128 && tile_m != 256) detail::fail_rt("gemm_wgmma: tile_m must be 128 or 256, got {}", tile_m);
  switch (w.bits) {
    case 2: return detail::run_wgmma<2>(w, x, epi, stream, tile_m);
    case 3: return detail::run_wgmma<3>(w, x, epi, stream, tile_m);
    case 4: return detail::run_wgmma<4>(w, x, epi, stream, tile_m);
    case 6: return detail::run_wgmma<6>(w, x, epi, stream, tile_m);
    case 8: return detail::run_wgmma<8>(w, x, epi, stream, tile_m);
    default: detail::fail_rt("gemm_wgmma: {}-bit weights are not instantiated (2, 3, 4, 6, 8)", w.bits);
  }
}

}  // namespace bitfold::kernels
