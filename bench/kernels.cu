// Quantized linear layers vs cuBLAS on Llama-2 shapes, all in one run.
//
//   bench_kernels [--quick] [--models 7b,13b,70b] [--layers qkv,o,gate_up,down] [--m 1,16,...]
//                 [--formats W4A4,...] [--no-btc] [--[no-]variants] [--no-check] [--no-probe]
//                 [--no-graphs] [--emit-table route_table.inc]
//
// Timing: CUDA events around batches of back-to-back launches (a batch is >= ~100 us of work),
// median over the samples; every launch reads the next of C weight copies, C chosen so that the
// copies together exceed 3x the L2 (the activations stay cache-resident, as they would in a
// model). At M = 1 cuBLAS FP16 and the GEMV are also timed inside CUDA graphs (one pass over the
// copies captured, then replayed), as a decode step runs them: launch gaps are then the graph's.
// Bytes = weight + activation + output bytes at the format's width; TOP/s counts
// 2 M N K. Before timing, each route's int32 output is compared with cuBLASLt int8 on the same
// codes at M = 1 and M = 256 ("check" column).
#include <cublas_v2.h>
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/fp4_layout.h"
#include "kernels/gemm.h"
#include "kernels/layout.h"
#include "kernels/quantize.h"

using namespace bitfold::kernels;

namespace {

#define CK(expr)                                                                                  \
  do {                                                                                            \
    const cudaError_t st_ = (expr);                                                               \
    if (st_ != cudaSuccess) {                                                                     \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorString(st_), __FILE__, __LINE__, #expr); \
      std::exit(2);                                                                               \
    }                                                                                             \
  } while (0)

// ---- random data on the device -------------------------------------------------------------------
__device__ __forceinline__ uint32_t hash32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return uint32_t(x);
}
// Non-zero codes in [lo, hi] (zeros run faster on some paths and hide bugs).
__global__ void fill_codes(int8_t* out, int64_t n, int lo, int hi, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int v = lo + int(hash32(seed * 0x9E3779B97F4A7C15ULL + i) % uint32_t(hi - lo));
    if (v >= 0) ++v;
    out[i] = int8_t(v);
  }
}
__global__ void fill_f16(__half* out, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __float2half(float(int(hash32(seed * 0x9E3779B97F4A7C15ULL + i) % 2001u) - 1000) / 1000.0f + 1e-3f);
}
// e4m3 bytes with exponent field 4..10 (|v| in [2^-3, 2^4)), random sign and mantissa.
__global__ void fill_fp8(uint8_t* out, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint32_t h = hash32(seed * 0x9E3779B97F4A7C15ULL + i);
    out[i] = uint8_t(((h & 1u) << 7) | ((4u + (h >> 1) % 7u) << 3) | ((h >> 8) & 7u));
  }
}
// E2M1 values (non-zero codes, random sign) as E4M3 bytes: the A4 operand of the FP4 routes.
__global__ void fill_e2m1_as_e4m3(uint8_t* out, int64_t n, uint64_t seed) {
  const uint8_t kMag[8] = {0x00, 0x30, 0x38, 0x3C, 0x40, 0x44, 0x48, 0x4C};
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint32_t h = hash32(seed * 0x9E3779B97F4A7C15ULL + i);
    out[i] = uint8_t(((h & 1u) << 7) | kMag[1 + (h >> 1) % 7u]);
  }
}
// Float64 reference of the FP4 routes' sum before the epilogue: acc[m][n] = sum_k x w and
// mag[m][n] = sum_k |x w|, one thread per output (the check at M = 1 and on small shapes at 256).
__global__ void fp4_ref_kernel(const uint8_t* x, int64_t ldx, int64_t m, const uint8_t* w, int64_t row_bytes,
                               int64_t n, int64_t k, double* acc, double* mag) {
  const double kE2M1[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= m * n) return;
  const int64_t i = idx / n, j = idx % n;
  double a = 0, s = 0;
  for (int64_t c = 0; c < k; ++c) {
    const double wv = kE2M1[(w[j * row_bytes + c / 2] >> (4 * (c & 1))) & 0xF];
    const __half_raw h = __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t(x[i * ldx + c]), __NV_E4M3);
    const double t = wv * double(__half2float(__half(h)));
    a += t, s += fabs(t);
  }
  acc[idx] = a, mag[idx] = s;
}
__global__ void fill_float(float* out, int64_t n, float lo, float hi, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = lo + (hi - lo) * float(hash32(seed * 0x9E3779B97F4A7C15ULL + i) % 65536u) / 65536.0f;
}
__global__ void count_diff(const int32_t* a, const int32_t* b, int64_t n, unsigned long long* bad) {
  unsigned long long local = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    local += a[i] != b[i];
  if (local) atomicAdd(bad, local);
}

const dim3 kFillGrid(1024), kFillBlock(256);

// ---- ceilings: the launch floor and plain read streaming, measured in the same run -------------------
__global__ void empty_kernel() {}
// Reads n16 16-byte words with 4 loads in flight per thread; the checksum keeps the loads alive.
__global__ void read_stream(const uint4* __restrict__ p, int64_t n16, uint32_t* sink) {
  uint32_t acc = 0;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  auto ld = [](const uint4* q) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(q));
    return v;
  };
  for (; i + 3 * stride < n16; i += 4 * stride) {
    const uint4 a = ld(p + i), b = ld(p + i + stride), c = ld(p + i + 2 * stride), d = ld(p + i + 3 * stride);
    acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
  }
  for (; i < n16; i += stride) {
    const uint4 a = ld(p + i);
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x9E3779B9u) *sink = acc;
}



template <class T>
T* dalloc(size_t count) {
  void* p = nullptr;
  CK(cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T)));
  return static_cast<T*>(p);
}

// ---- configuration --------------------------------------------------------------------------------
struct Shape {
  const char* model;
  const char* layer;
  int64_t n, k;
};
const Shape kShapes[] = {
    {"7b", "qkv", 12288, 4096},  {"7b", "o", 4096, 4096},    {"7b", "gate_up", 22016, 4096},  {"7b", "down", 4096, 11008},
    {"13b", "qkv", 15360, 5120}, {"13b", "o", 5120, 5120},   {"13b", "gate_up", 27648, 5120}, {"13b", "down", 5120, 13824},
    {"70b", "qkv", 10240, 8192}, {"70b", "o", 8192, 8192},   {"70b", "gate_up", 57344, 8192}, {"70b", "down", 8192, 28672},
};
struct Format {
  const char* name;
  int p, q;
  bool route_a;  // route (a) measured here (route a does not depend on q: W6A8 = W6A6, W4A8 = W4A4)
  bool btc;
  bool fp = false;  // E2M1 weights (p = kE2M1), activations q = kE2M1 / kE4M3 as E4M3 bytes
};
const Format kFormats[] = {
    {"W8A8", 8, 8, true, false}, {"W6A6", 6, 6, true, true}, {"W6A8", 6, 8, false, true}, {"W4A4", 4, 4, true, true},
    {"W4A8", 4, 8, false, true}, {"W3A8", 3, 8, true, true}, {"W2A8", 2, 8, true, true},
    {"W4A4-FP", kE2M1, kE2M1, false, false, true}, {"W4A8-FP", kE2M1, kE4M3, false, false, true},
};
// The rows a format's summary takes: route (a) rows of W6A8 / W4A8 are those of W6A6 / W4A4.
std::string alias_of(const Format& f) { return f.route_a || f.fp ? f.name : (f.p == 6 ? "W6A6" : "W4A4"); }
std::string table_code(int v) { return v == kE2M1 ? "kE2M1" : v == kE4M3 ? "kE4M3" : std::to_string(v); }

struct Options {
  std::set<std::string> models{"7b", "13b", "70b"}, layers{"qkv", "o", "gate_up", "down"}, formats;
  std::vector<int64_t> ms{1, 4, 8, 16, 64, 256, 1024, 4096, 8192};
  bool btc = true, variants = true, check = true, quick = false, probe = true, graphs = true;
  std::string emit_table, command;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// ---- timing -----------------------------------------------------------------------------------------
struct Timing {
  double us = 0;
  int samples = 0, batch = 0;
};

Timing time_it(const std::function<void(int)>& fn, int copies) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  int idx = 0;
  fn(idx++ % copies);
  fn(idx++ % copies);
  CK(cudaDeviceSynchronize());
  CK(cudaEventRecord(a));
  fn(idx++ % copies);
  CK(cudaEventRecord(b));
  CK(cudaEventSynchronize(b));
  float est_ms = 0;
  CK(cudaEventElapsedTime(&est_ms, a, b));
  const double est = std::max(1e-3, double(est_ms));
  Timing t;
  t.batch = std::clamp(int(0.1 / est), 1, 64);                // >= ~100 us per sample
  t.samples = std::clamp(int(60.0 / (est * t.batch)), 5, 31);  // ~60 ms per kernel at most
  std::vector<double> per;
  for (int s = 0; s < t.samples; ++s) {
    CK(cudaEventRecord(a));
    for (int i = 0; i < t.batch; ++i) fn(idx++ % copies);
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    per.push_back(1000.0 * ms / t.batch);
  }
  CK(cudaGetLastError());
  std::sort(per.begin(), per.end());
  t.us = per[per.size() / 2];
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return t;
}

// The same launches captured in a CUDA graph (as a decode engine runs its step): the graph holds
// one pass over the weight copies (at least 32 launches) and is replayed; time per launch.
Timing time_graph(const std::function<void(int, cudaStream_t)>& fn, int copies) {
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const int launches = copies * ((32 + copies - 1) / copies);
  cudaGraph_t graph = nullptr;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  try {
    for (int i = 0; i < launches; ++i) fn(i, s);
  } catch (...) {
    cudaStreamEndCapture(s, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaStreamDestroy(s);
    throw;
  }
  CK(cudaStreamEndCapture(s, &graph));
  cudaGraphExec_t exec;
  CK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  CK(cudaGraphLaunch(exec, s));
  CK(cudaEventRecord(a, s));
  CK(cudaGraphLaunch(exec, s));
  CK(cudaEventRecord(b, s));
  CK(cudaEventSynchronize(b));
  float est_ms = 0;
  CK(cudaEventElapsedTime(&est_ms, a, b));
  Timing t;
  t.batch = std::clamp(int(0.2 / std::max(1e-3, double(est_ms))), 1, 64) * launches;
  t.samples = 11;
  std::vector<double> per;
  for (int r = 0; r < t.samples; ++r) {
    CK(cudaEventRecord(a, s));
    for (int i = 0; i < t.batch / launches; ++i) CK(cudaGraphLaunch(exec, s));
    CK(cudaEventRecord(b, s));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    per.push_back(1000.0 * ms / t.batch);
  }
  std::sort(per.begin(), per.end());
  t.us = per[per.size() / 2];
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
  return t;
}

struct Row {
  std::string model, layer;
  int64_t n, k, m;
  std::string kernel;  // "fp16", "int8-lt", "fp8-lt", or "W4A4 decode" ...
  std::string format;  // "" for peers
  Route route = Route::Count;
  double us = 0, tops = 0, gbs = 0, vs_fp16 = 0, weight_tbs = 0;
  std::string check;
};

// ---- cuBLASLt probe: can its alpha-vector mode apply the per-channel scale itself? -------------
// D (n x m, column-major: rows = output channels) = alpha[row] * (W . X^T) with A/B int8 or e4m3,
// for each output type; reports whether a heuristic exists and whether the result is right.
const char* lt_type_name(cudaDataType_t t) {
  switch (t) {
    case CUDA_R_32I: return "int32";
    case CUDA_R_32F: return "fp32";
    case CUDA_R_16F: return "fp16";
    case CUDA_R_8I: return "int8";
    case CUDA_R_8F_E4M3: return "e4m3";
    default: return "?";
  }
}

__global__ void codes_to_e4m3(const int8_t* in, uint8_t* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    // small integers |v| <= 16 are exact in e4m3: build the byte from the float
    const float f = float(in[i]);
    const __nv_fp8_e4m3 q(f);
    out[i] = *reinterpret_cast<const uint8_t*>(&q);
  }
}

void probe_lt(cublasLtHandle_t lt, void* ws, size_t ws_bytes) {
  const int64_t m = 64, n = 256, k = 512;
  std::vector<int8_t> hx(size_t(m * k)), hw(size_t(n * k));
  for (size_t i = 0; i < hx.size(); ++i) hx[i] = int8_t(int((i * 7919) % 15) - 7 + ((i % 15) == 7));
  for (size_t i = 0; i < hw.size(); ++i) hw[i] = int8_t(int((i * 104729) % 15) - 7 + ((i % 15) == 7));
  std::vector<float> hs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) hs[size_t(i)] = 1e-3f * float(1 + i % 13);
  std::vector<double> ref(size_t(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t a = 0;
      for (int64_t c = 0; c < k; ++c) a += int64_t(hx[size_t(i * k + c)]) * hw[size_t(j * k + c)];
      ref[size_t(i * n + j)] = double(a) * hs[size_t(j)];
    }
  int8_t *dx = dalloc<int8_t>(size_t(m * k)), *dw = dalloc<int8_t>(size_t(n * k));
  uint8_t *fx = dalloc<uint8_t>(size_t(m * k)), *fw = dalloc<uint8_t>(size_t(n * k));
  float* ds = dalloc<float>(size_t(n));
  void* dy = dalloc<uint8_t>(size_t(m * n * 4));
  CK(cudaMemcpy(dx, hx.data(), hx.size(), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dw, hw.data(), hw.size(), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(ds, hs.data(), hs.size() * 4, cudaMemcpyHostToDevice));
  codes_to_e4m3<<<64, 256>>>(dx, fx, m * k);
  codes_to_e4m3<<<64, 256>>>(dw, fw, n * k);
  CK(cudaDeviceSynchronize());
  std::printf("## cuBLASLt probe: per-row alpha vector (CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_ZERO)\n\n");
  std::printf("| inputs | compute | scale | output | heuristic | result |\n|---|---|---|---|---|---|\n");
  struct Combo {
    cudaDataType_t ab;
    cublasComputeType_t compute;
    cudaDataType_t scale, d;
  };
  const Combo combos[] = {{CUDA_R_8I, CUBLAS_COMPUTE_32I, CUDA_R_32F, CUDA_R_8I},
                          {CUDA_R_8I, CUBLAS_COMPUTE_32I, CUDA_R_32F, CUDA_R_32I},
                          {CUDA_R_8I, CUBLAS_COMPUTE_32I, CUDA_R_32F, CUDA_R_32F},
                          {CUDA_R_8I, CUBLAS_COMPUTE_32I, CUDA_R_32F, CUDA_R_16F},
                          {CUDA_R_8I, CUBLAS_COMPUTE_32I, CUDA_R_32I, CUDA_R_32I},
                          {CUDA_R_8F_E4M3, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16F},
                          {CUDA_R_8F_E4M3, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_32F}};
  for (const Combo& c : combos) {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
    std::string heur = "none", result = "-";
    if (cublasLtMatmulDescCreate(&desc, c.compute, c.scale) == CUBLAS_STATUS_SUCCESS) {
      const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
      const cublasLtPointerMode_t pm = CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_ZERO;
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT);
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN);
      const bool pm_ok = cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_POINTER_MODE, &pm, sizeof pm) ==
                         CUBLAS_STATUS_SUCCESS;
      cublasLtMatrixLayoutCreate(&la, c.ab, uint64_t(k), uint64_t(n), k);
      cublasLtMatrixLayoutCreate(&lb, c.ab, uint64_t(k), uint64_t(m), k);
      cublasLtMatrixLayoutCreate(&ld, c.d, uint64_t(n), uint64_t(m), n);
      cublasLtMatmulPreference_t pref;
      cublasLtMatmulPreferenceCreate(&pref);
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes);
      cublasLtMatmulHeuristicResult_t res{};
      int found = 0;
      const cublasStatus_t hs_st = cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, ld, ld, pref, 1, &res, &found);
      cublasLtMatmulPreferenceDestroy(pref);
      if (!pm_ok) heur = "pointer mode rejected";
      else if (hs_st != CUBLAS_STATUS_SUCCESS) heur = "status " + std::to_string(int(hs_st));
      else if (found == 0) heur = "no algorithm";
      else {
        heur = "found";
        const void* a = c.ab == CUDA_R_8I ? static_cast<const void*>(dw) : fw;
        const void* b = c.ab == CUDA_R_8I ? static_cast<const void*>(dx) : fx;
        const float beta = 0;
        const cublasStatus_t st = cublasLtMatmul(lt, desc, ds, a, la, b, lb, &beta, dy, ld, dy, ld, &res.algo, ws,
                                                 ws_bytes, nullptr);
        if (st != CUBLAS_STATUS_SUCCESS || cudaDeviceSynchronize() != cudaSuccess) {
          result = "matmul failed (" + std::to_string(int(st)) + ")";
          cudaGetLastError();
        } else {
          const size_t es = c.d == CUDA_R_8I ? 1 : (c.d == CUDA_R_16F ? 2 : 4);
          std::vector<uint8_t> hy(size_t(m * n) * es);
          CK(cudaMemcpy(hy.data(), dy, hy.size(), cudaMemcpyDeviceToHost));
          double worst = 0;
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              const size_t idx = size_t(i * n + j);  // D[j][i] column-major = y[i][j]
              double v = 0;
              if (c.d == CUDA_R_32F) v = reinterpret_cast<const float*>(hy.data())[idx];
              if (c.d == CUDA_R_32I) v = reinterpret_cast<const int32_t*>(hy.data())[idx];
              if (c.d == CUDA_R_8I) v = reinterpret_cast<const int8_t*>(hy.data())[idx];
              if (c.d == CUDA_R_16F) v = __half2float(reinterpret_cast<const __half*>(hy.data())[idx]);
              const double want = ref[idx];
              worst = std::max(worst, std::abs(v - want) / (std::abs(want) + 1e-3));
            }
          char buf[96];
          std::snprintf(buf, sizeof buf, "max rel. error %.2e", worst);
          result = buf;
        }
      }
    }
    std::printf("| %s | %s | %s | %s | %s | %s |\n", lt_type_name(c.ab), c.compute == CUBLAS_COMPUTE_32I ? "32I" : "32F",
                lt_type_name(c.scale), lt_type_name(c.d), heur.c_str(), result.c_str());
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
  std::printf("\n");
  std::fflush(stdout);
  cudaFree(dx), cudaFree(dw), cudaFree(fx), cudaFree(fw), cudaFree(ds), cudaFree(dy);
}

int copies_for(size_t bytes, size_t l2) {
  return int(std::clamp<size_t>((3 * l2) / std::max<size_t>(bytes, 1) + 2, 2, 96));
}

std::string route_enum(Route r) {
  switch (r) {
    case Route::Decode: return "Decode";
    case Route::Wgmma128: return "Wgmma128";
    case Route::Wgmma256: return "Wgmma256";
    case Route::UnpackLt: return "UnpackLt";
    case Route::Int8Lt: return "Int8Lt";
    case Route::Btc: return "Btc";
    case Route::Fp16: return "Fp16";
    case Route::Gemv: return "Gemv";
    case Route::Fp4Gemv: return "Fp4Gemv";
    case Route::Fp4Lt: return "Fp4Lt";
    case Route::Int8Tma: return "Int8Tma";
    case Route::UnpackTma: return "UnpackTma";
    case Route::Fp4Tma: return "Fp4Tma";
    default: return "Count";
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 0; i < argc; ++i) opt.command += (i ? " " : "") + std::string(argv[i]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "--quick") {
      opt.quick = true;
      opt.models = {"7b"};
      opt.ms = {1, 4, 16, 256, 4096, 8192};
      opt.variants = false;
    } else if (a == "--models") {
      opt.models.clear();
      for (auto& s : split(next())) opt.models.insert(s);
    } else if (a == "--layers") {
      opt.layers.clear();
      for (auto& s : split(next())) opt.layers.insert(s);
    } else if (a == "--m") {
      opt.ms.clear();
      for (auto& s : split(next())) opt.ms.push_back(std::stoll(s));
    } else if (a == "--formats") {
      for (auto& s : split(next())) opt.formats.insert(s);
    } else if (a == "--no-btc") {
      opt.btc = false;
    } else if (a == "--no-graphs") {
      opt.graphs = false;
    } else if (a == "--no-variants") {
      opt.variants = false;
    } else if (a == "--variants") {
      opt.variants = true;
    } else if (a == "--no-probe") {
      opt.probe = false;
    } else if (a == "--no-check") {
      opt.check = false;
    } else if (a == "--emit-table") {
      opt.emit_table = next();
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 1;
    }
  }
  auto want_format = [&](const Format& f) { return opt.formats.empty() || opt.formats.count(f.name); };

  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  const size_t l2 = size_t(prop.l2CacheSize);
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::printf("# bitfold quantized GEMM benchmark\n\n");
  std::printf("- GPU: %s, %d SMs, L2 %.0f MB, %.1f GiB; CUDA runtime %d.%d, driver %d.%d\n", prop.name,
              prop.multiProcessorCount, l2 / 1e6, double(prop.totalGlobalMem) / (1u << 30), runtime / 1000,
              (runtime % 1000) / 10, driver / 1000, (driver % 1000) / 10);
  std::printf("- date: %s\n- command: `%s`\n", date, opt.command.c_str());
  std::printf("- timing: CUDA events, median of 5-31 samples, each the mean of a batch of back-to-back launches "
              "(>= ~100 us); weights rotated over copies totalling > 3x L2; activations L2-resident.\n");
  std::printf("- peers: `fp16` = cublasGemmEx FP16 in/out, FP32 accumulation (CUBLAS_COMPUTE_32F); `int8-lt` = "
              "cuBLASLt int8 -> int32, no epilogue; `fp8-lt` = cuBLASLt e4m3 -> FP16, FP32 accumulation.\n");
  std::printf("- ours: FP16 output y = acc * w_scale[n] (the epilogue included in the time). Routes: decode "
              "(frag layout; default: direct register-prefetch kernel for M <= 8, split-K skeleton above; variant: "
              "decode-staged = split-K skeleton), gemv (M <= 4: the CUDA-core GEMV over the "
              "row-major gemv layout, lop3 + dp4a, launched as a programmatic dependent of the previous launch (PDL, its "
              "default), so that its launch and weight loads overlap the end of the previous kernel; gemv-nopdl = the same "
              "with a plain launch), wgmma128/256 (token tile), unpack+lt (unpack "
              "pre-pass + cuBLASLt int8 + epilogue kernel), int8-lt+epi (W8A8 rows + epilogue kernel), int8-tma (W8A8 rows, "
              "own warp-specialized wgmma kernel: bulk tensor copies, shared-memory operands, the epilogue fused, FP16 "
              "written by bulk tensor stores), unpack+tma (unpack pre-pass + int8-tma), btc "
              "(bit-planes, b1 mma). Route (a) timings do not depend on q: W6A8 = W6A6, W4A8 = W4A4. FP4 (W4A4-FP, "
              "W4A8-FP: E2M1 weights, E2M1 / E4M3 activations as E4M3 bytes, y = acc * a_scale * w_scale[n]): fp4-gemv "
              "(M <= 8, CUDA cores: FP32 FMA, or dp4a on 2 w x 2 x when the activations are E2M1 values (W4A4-FP); PDL launch; fp4-gemv-nopdl plain launch), fp4-lt (E2M1 -> E4M3 pre-pass + "
              "cuBLASLt FP8 -> FP32 + epilogue kernel), fp4-tma (the same pre-pass + the int8-tma kernel on E4M3 operands, f32 "
              "accumulators, the epilogue fused); their check compares the FP32 output with a float64 reference "
              "within fp4_error_bound (M = 1, and M = 256 on shapes with N K <= 70M). W4A4-FP and W4A8-FP differ only in "
              "the activation values.\n");
  std::printf("- GB/s = (weight + activation + output bytes) / time; weight TB/s = weight bytes / time.\n\n");
  std::fflush(stdout);

  if (opt.probe) {
    cublasLtHandle_t lt;
    if (cublasLtCreate(&lt) == CUBLAS_STATUS_SUCCESS) {
      void* ws = dalloc<uint8_t>(size_t(32) << 20);
      probe_lt(lt, ws, size_t(32) << 20);
      cudaFree(ws);
      cublasLtDestroy(lt);
    }
  }
  {
    // What any kernel pays here: the back-to-back launch floor, and plain reads of B bytes (the
    // floor of a GEMV whose weights take B bytes), both timed like the kernels below.
    std::printf("## Ceilings: launch floor and read streaming (same harness)\n\n| what | bytes | time (us) | TB/s |\n|---|---:|---:|---:|\n");
    auto t0 = time_it([&](int) { empty_kernel<<<1, 32>>>(); }, 1);
    std::printf("| empty kernel, 1 block | 0 | %.2f | |\n", t0.us);
    auto t1 = time_it([&](int) { empty_kernel<<<2 * prop.multiProcessorCount, 512>>>(); }, 1);
    std::printf("| empty kernel, 2 blocks x 512 threads per SM | 0 | %.2f | |\n", t1.us);
    uint32_t* sink = dalloc<uint32_t>(1);
    for (const size_t mb : {4, 8, 16, 32, 64, 128, 256, 512}) {
      const size_t bytes = mb << 20;
      const int c = copies_for(bytes, l2);
      std::vector<uint8_t*> bufs;
      for (int i = 0; i < c; ++i) {
        bufs.push_back(dalloc<uint8_t>(bytes));
        fill_codes<<<kFillGrid, kFillBlock>>>(reinterpret_cast<int8_t*>(bufs.back()), int64_t(bytes), -8, 7, 77 + i);
      }
      CK(cudaDeviceSynchronize());
      auto t = time_it([&](int i) {
        read_stream<<<4 * prop.multiProcessorCount, 512>>>(reinterpret_cast<const uint4*>(bufs[size_t(i)]), int64_t(bytes / 16), sink);
      }, c);
      std::printf("| read stream | %zu MB | %.2f | %.2f |\n", mb, t.us, double(bytes) / (t.us * 1e-6) / 1e12);
      std::fflush(stdout);
      for (auto* b : bufs) cudaFree(b);
    }
    cudaFree(sink);
    std::printf("\n");
  }
  GemmContext ctx;
  std::vector<Row> rows;
  const int64_t max_m = *std::max_element(opt.ms.begin(), opt.ms.end());

  for (const Shape& sh : kShapes) {
    if (!opt.models.count(sh.model) || !opt.layers.count(sh.layer)) continue;
    const int64_t n = sh.n, k = sh.k;
    std::printf("## Llama-2-%s %s: N = %ld, K = %ld\n\n", sh.model, sh.layer, long(n), long(k));
    std::printf("| M | kernel | time (us) | TOP/s | GB/s | weight TB/s | x FP16 | check |\n");
    std::printf("|---:|---|---:|---:|---:|---:|---:|---|\n");
    std::fflush(stdout);

    // Weights: codes per bit width, then the packed copies of every layout.
    int8_t* codes = dalloc<int8_t>(size_t(n * k));
    std::map<int, std::vector<uint8_t*>> frag, fragd, gemvw, btcw;
    std::vector<int8_t*> rows8;
    std::vector<__half*> wf16;
    std::vector<uint8_t*> wfp8;
    auto make_copies = [&](size_t bytes, auto&& fill_first) {
      const int c = copies_for(bytes, l2);
      std::vector<uint8_t*> v;
      for (int i = 0; i < c; ++i) {
        uint8_t* p = dalloc<uint8_t>(bytes);
        if (i == 0)
          fill_first(p);
        else
          CK(cudaMemcpy(p, v[0], bytes, cudaMemcpyDeviceToDevice));
        v.push_back(p);
      }
      return v;
    };
    std::set<int> ps_a, ps_btc;
    bool want_fp4 = false;
    for (const Format& f : kFormats) {
      if (!want_format(f)) continue;
      if (f.fp) {
        want_fp4 = true;
        continue;
      }
      ps_a.insert(f.p);
      if (f.btc && opt.btc) ps_btc.insert(f.p);
    }
    for (int p : ps_a) {
      fill_codes<<<kFillGrid, kFillBlock>>>(codes, n * k, code_min(p), code_max(p), 1000 + p);
      frag[p] = make_copies(size_t(FragLayout{p, n, k}.bytes()), [&](uint8_t* dst) { pack_frag_device(codes, k, n, k, p, dst, nullptr); });
      gemvw[p] = make_copies(size_t(GemvLayout{p, n, k}.bytes()), [&](uint8_t* dst) { pack_gemv_device(codes, k, n, k, p, dst, nullptr); });
      fragd[p] = make_copies(size_t(FragLayout{p, n, k}.bytes()), [&](uint8_t* dst) {
        pack_frag_device(codes, k, n, k, p, dst, nullptr, FragOrder::Decode);
      });
      if (ps_btc.count(p))
        btcw[p] = make_copies(size_t(BtcWeightLayout{p, n, k}.bytes()), [&](uint8_t* dst) { pack_btc_weight_device(codes, k, n, k, p, dst, nullptr); });
      if (p == 8) {
        auto v = make_copies(size_t(n * k), [&](uint8_t* dst) { CK(cudaMemcpy(dst, codes, size_t(n * k), cudaMemcpyDeviceToDevice)); });
        for (auto* ptr : v) rows8.push_back(reinterpret_cast<int8_t*>(ptr));
      }
    }
    {
      auto v = make_copies(size_t(n * k) * 2, [&](uint8_t* dst) { fill_f16<<<kFillGrid, kFillBlock>>>(reinterpret_cast<__half*>(dst), n * k, 7); });
      for (auto* ptr : v) wf16.push_back(reinterpret_cast<__half*>(ptr));
      wfp8 = make_copies(size_t(n * k), [&](uint8_t* dst) { fill_fp8<<<kFillGrid, kFillBlock>>>(dst, n * k, 8); });
    }
    std::vector<uint8_t*> fp4w;  // Fp4Layout: random bytes are random E2M1 code pairs
    if (want_fp4)
      fp4w = make_copies(size_t(Fp4Layout{n, k}.bytes()), [&](uint8_t* dst) {
        fill_codes<<<kFillGrid, kFillBlock>>>(reinterpret_cast<int8_t*>(dst), Fp4Layout{n, k}.bytes(), -128, 127, 41);
      });
    CK(cudaDeviceSynchronize());
    float* w_scale = dalloc<float>(size_t(n));
    fill_float<<<kFillGrid, kFillBlock>>>(w_scale, n, 1e-4f, 2e-4f, 9);

    // Activations for the largest M: int8 codes per q, planes per q, FP16, FP8.
    std::map<int, int8_t*> xq;
    std::map<int, uint32_t*> xplanes;
    const int64_t ldw = btc_act_ld_words(k);
    for (int q : {4, 6, 8}) {
      xq[q] = dalloc<int8_t>(size_t(max_m * k));
      fill_codes<<<kFillGrid, kFillBlock>>>(xq[q], max_m * k, code_min(q), code_max(q), 2000 + q);
    }
    __half* xf16 = dalloc<__half>(size_t(max_m * k));
    fill_f16<<<kFillGrid, kFillBlock>>>(xf16, max_m * k, 11);
    uint8_t* xfp8 = dalloc<uint8_t>(size_t(max_m * k));
    fill_fp8<<<kFillGrid, kFillBlock>>>(xfp8, max_m * k, 12);
    uint8_t* xe2m1 = dalloc<uint8_t>(size_t(max_m * k));
    fill_e2m1_as_e4m3<<<kFillGrid, kFillBlock>>>(xe2m1, max_m * k, 13);
    __half* y16 = dalloc<__half>(size_t(max_m * n));
    int32_t* y32 = dalloc<int32_t>(size_t(max_m * n));
    int32_t* yref = dalloc<int32_t>(size_t(std::min<int64_t>(max_m, 256) * n));
    int8_t* wrows_ref = dalloc<int8_t>(size_t(n * k));
    unsigned long long* dbad = dalloc<unsigned long long>(1);
    CK(cudaDeviceSynchronize());

    for (const int64_t m : opt.ms) {
      const double ops = 2.0 * double(m) * double(n) * double(k);
      double fp16_us = 0;
      // `baseline`: the FP16 time this row is compared with (the graph rows have their own); the
      // FP16 rows set it.
      auto add_row = [&](const std::string& kernel, const std::string& format, Route route, const Timing& t,
                         double w_bytes, double x_bytes, double y_bytes, const std::string& check,
                         double* baseline = nullptr) {
        if (!baseline) baseline = &fp16_us;
        Row r{sh.model, sh.layer, n, k, m, kernel, format, route};
        r.us = t.us;
        r.tops = ops / (t.us * 1e-6) / 1e12;
        r.gbs = (w_bytes + x_bytes + y_bytes) / (t.us * 1e-6) / 1e9;
        r.weight_tbs = w_bytes / (t.us * 1e-6) / 1e12;
        if (kernel == "fp16" || kernel == "fp16 graph") *baseline = t.us;
        r.vs_fp16 = *baseline > 0 ? *baseline / t.us : 0;
        r.check = check;
        rows.push_back(r);
        std::printf("| %ld | %s | %.2f | %.1f | %.0f | %.2f | %.2f | %s |\n", long(m), kernel.c_str(), r.us, r.tops,
                    r.gbs, r.weight_tbs, r.vs_fp16, check.c_str());
        std::fflush(stdout);
      };
      auto fail_row = [&](const std::string& kernel, const char* what) {
        std::printf("| %ld | %s | error: %s | | | | | |\n", long(m), kernel.c_str(), what);
        std::fflush(stdout);
        CK(cudaDeviceSynchronize());  // a sticky CUDA error stops the run here
      };

      // Peers.
      {
        const int c = int(wf16.size());
        auto t = time_it([&](int i) { cublas_fp16(ctx, m, n, k, reinterpret_cast<const uint16_t*>(xf16),
                                                  reinterpret_cast<const uint16_t*>(wf16[size_t(i % c)]),
                                                  reinterpret_cast<uint16_t*>(y16), nullptr); }, c);
        add_row("fp16", "", Route::Fp16, t, 2.0 * n * k, 2.0 * m * k, 2.0 * m * n, "");
      }
      {
        // int8 peer on the W8 rows when present, else on the FP8 bytes reinterpreted (same size).
        const int c = rows8.empty() ? int(wfp8.size()) : int(rows8.size());
        try {
          auto t = time_it([&](int i) {
            const int8_t* w = rows8.empty() ? reinterpret_cast<const int8_t*>(wfp8[size_t(i % c)]) : rows8[size_t(i % c)];
            cublaslt_int8(ctx, m, n, k, xq[8], k, w, k, y32, nullptr);
          }, c);
          add_row("int8-lt", "", Route::Count, t, 1.0 * n * k, 1.0 * m * k, 4.0 * m * n, "");
        } catch (const std::exception& e) {
          fail_row("int8-lt", e.what());
        }
      }
      try {
        const int c = int(wfp8.size());
        auto t = time_it([&](int i) { cublaslt_fp8(ctx, m, n, k, xfp8, wfp8[size_t(i % c)], reinterpret_cast<uint16_t*>(y16), nullptr); }, c);
        add_row("fp8-lt", "", Route::Count, t, 1.0 * n * k, 1.0 * m * k, 2.0 * m * n, "");
      } catch (const std::exception& e) {
        fail_row("fp8-lt", e.what());
      }

      // Ours.
      for (const Format& f : kFormats) {
        if (!want_format(f)) continue;
        if (f.fp) {  // FP4 routes: FP16 output as the others; the check compares FP32 outputs with float64
          const Fp8Act xa{f.q == kE2M1 ? xe2m1 : xfp8, k, m, k, 0.0625f, f.q == kE2M1};
          const bool small = double(n) * double(k) <= 70e6;
          const bool do_check = opt.check && (m == opt.ms.front() || (m == 256 && small));
          auto check_fp4 = [&](Fp4Accumulation acc, const std::function<void(const Epilogue&)>& run) -> std::string {
            if (!do_check) return "";
            double* dacc = dalloc<double>(size_t(m * n));
            double* dmag = dalloc<double>(size_t(m * n));
            float* y = dalloc<float>(size_t(m * n));
            CK(cudaMemset(y, 0xFF, size_t(m * n) * 4));
            fp4_ref_kernel<<<unsigned(ceil_div(m * n, 128)), 128>>>(xa.data, k, m, fp4w[0], Fp4Layout{n, k}.row_bytes(), n,
                                                                     k, dacc, dmag);
            Epilogue e;
            e.w_scale = w_scale;
            e.y_f32 = y, e.ld_f32 = n;
            run(e);
            CK(cudaDeviceSynchronize());
            std::vector<double> acc_h(size_t(m * n)), mag_h(size_t(m * n));
            std::vector<float> y_h(size_t(m * n)), ws_h(static_cast<size_t>(n));
            CK(cudaMemcpy(acc_h.data(), dacc, acc_h.size() * 8, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(mag_h.data(), dmag, mag_h.size() * 8, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(y_h.data(), y, y_h.size() * 4, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(ws_h.data(), w_scale, ws_h.size() * 4, cudaMemcpyDeviceToHost));
            cudaFree(dacc), cudaFree(dmag), cudaFree(y);
            int64_t bad = 0;
            for (int64_t i = 0; i < m * n; ++i) {
              const double s = double(xa.a_scale) * ws_h[size_t(i % n)];
              const double want = acc_h[size_t(i)] * s;
              if (!(std::abs(y_h[size_t(i)] - want) <= fp4_error_bound(want, mag_h[size_t(i)] * s, k, acc, false))) ++bad;
            }
            return bad == 0 ? "ok" : "MISMATCH " + std::to_string(bad);
          };
          auto measure_fp4 = [&](const std::string& label, Route route, Fp4Accumulation acc,
                                 const std::function<void(const Epilogue&, int)>& run) {
            try {
              const std::string chk = check_fp4(acc, [&](const Epilogue& e) { run(e, 0); });
              Epilogue e;
              e.w_scale = w_scale;
              e.y_f16 = reinterpret_cast<uint16_t*>(y16), e.ld_f16 = n;
              auto t = time_it([&](int i) { run(e, i); }, int(fp4w.size()));
              add_row(std::string(f.name) + " " + label, f.name, route, t, double(n) * k / 2, double(m) * k, 2.0 * m * n, chk);
            } catch (const std::exception& ex) {
              fail_row(std::string(f.name) + " " + label, ex.what());
            }
          };
          const int c4 = int(fp4w.size());
          if (m <= 8) {
            measure_fp4("fp4-gemv", Route::Fp4Gemv, Fp4Accumulation::Fp32, [&](const Epilogue& e, int i) {
              gemm_fp4_gemv(Fp4Weight{fp4w[size_t(i % c4)], n, k}, xa, e, nullptr);
            });
            if (opt.variants)
              measure_fp4("fp4-gemv-nopdl", Route::Count, Fp4Accumulation::Fp32, [&](const Epilogue& e, int i) {
                gemm_fp4_gemv(Fp4Weight{fp4w[size_t(i % c4)], n, k}, xa, e, nullptr, GemvOptions{false});
              });
          }
          measure_fp4("fp4-lt", Route::Fp4Lt, Fp4Accumulation::TensorCore, [&](const Epilogue& e, int i) {
            gemm_fp4_lt(ctx, Fp4Weight{fp4w[size_t(i % c4)], n, k}, xa, e, nullptr);
          });
          if (m >= 64)
            measure_fp4("fp4-tma", Route::Fp4Tma, Fp4Accumulation::TensorCore, [&](const Epilogue& e, int i) {
              gemm_fp4_tma(ctx, Fp4Weight{fp4w[size_t(i % c4)], n, k}, xa, e, nullptr);
            });
          continue;
        }
        const int p = f.p, q = f.q;
        const Int8Act x{xq[q], k, m, k};
        const double wb = double(n) * k * p / 8, xb8 = double(m) * k, yb = 2.0 * m * n;
        const bool do_check = opt.check && m <= 256 && (m == opt.ms.front() || m == 256);
        // Reference int32 for the checks: cuBLASLt int8 on the unpacked codes of copy 0.
        if (do_check) {
          try {
            unpack_frag_device(FragWeight{frag[p][0], p, n, k}, wrows_ref, k, nullptr);
            cublaslt_int8(ctx, m, n, k, x.data, k, wrows_ref, k, yref, nullptr);
            CK(cudaDeviceSynchronize());
          } catch (const std::exception& e) {
            fail_row("reference", e.what());
          }
        }
        auto check_of = [&](const std::function<void(const Epilogue&)>& run) -> std::string {
          if (!do_check) return "";
          Epilogue e;
          e.w_scale = w_scale;
          e.y_i32 = y32, e.ld_i32 = n;
          CK(cudaMemset(y32, 0x7F, size_t(m * n) * 4));
          run(e);
          CK(cudaMemset(dbad, 0, sizeof(unsigned long long)));
          count_diff<<<1024, 256>>>(y32, yref, m * n, dbad);
          unsigned long long bad = 0;
          CK(cudaMemcpy(&bad, dbad, sizeof bad, cudaMemcpyDeviceToHost));
          return bad == 0 ? "ok" : "MISMATCH " + std::to_string(bad);
        };
        auto measure = [&](const std::string& label, Route route, int copies, double xbytes,
                           const std::function<void(const Epilogue&, int)>& run) {
          try {
            const std::string chk = check_of([&](const Epilogue& e) { run(e, 0); });
            Epilogue e;
            e.w_scale = w_scale;
            e.y_f16 = reinterpret_cast<uint16_t*>(y16), e.ld_f16 = n;
            auto t = time_it([&](int i) { run(e, i); }, copies);
            add_row(std::string(f.name) + " " + label, f.name, route, t, wb, xbytes, yb, chk);
          } catch (const std::exception& ex) {
            fail_row(std::string(f.name) + " " + label, ex.what());
          }
        };
        const int cf = int(frag[p].size());
        if (f.route_a) {
          if (m <= 64)
            measure("decode", Route::Decode, cf, xb8, [&](const Epilogue& e, int i) {
              gemm_decode(ctx, FragWeight{fragd[p][size_t(i % cf)], p, n, k, FragOrder::Decode}, x, e, nullptr);
            });
          if (m <= 4) {
            const int cg = int(gemvw[p].size());
            measure("gemv", Route::Gemv, cg, xb8, [&](const Epilogue& e, int i) {
              gemm_gemv(GemvWeight{gemvw[p][size_t(i % cg)], p, n, k}, x, e, nullptr);
            });
            if (opt.variants)
              measure("gemv-nopdl", Route::Count, cg, xb8, [&](const Epilogue& e, int i) {
                gemm_gemv(GemvWeight{gemvw[p][size_t(i % cg)], p, n, k}, x, e, nullptr, GemvOptions{false});
              });
          }
          if (m <= 64 && opt.variants)
            measure("decode-staged", Route::Count, cf, xb8, [&](const Epilogue& e, int i) {
              DecodeTuning tu;
              tu.kernel = DecodeKernel::Staged;
              gemm_decode(ctx, FragWeight{fragd[p][size_t(i % cf)], p, n, k, FragOrder::Decode}, x, e, nullptr, tu);
            });
          if (m >= 16)
            measure("wgmma128", Route::Wgmma128, cf, xb8, [&](const Epilogue& e, int i) {
              gemm_wgmma(ctx, FragWeight{frag[p][size_t(i % cf)], p, n, k}, x, e, nullptr, 128);
            });
          if (m >= 256)
            measure("wgmma256", Route::Wgmma256, cf, xb8, [&](const Epilogue& e, int i) {
              gemm_wgmma(ctx, FragWeight{frag[p][size_t(i % cf)], p, n, k}, x, e, nullptr, 256);
            });
          if (m >= 64 && p != 8)
            measure("unpack+lt", Route::UnpackLt, cf, xb8, [&](const Epilogue& e, int i) {
              gemm_unpack_lt(ctx, FragWeight{frag[p][size_t(i % cf)], p, n, k}, x, e, nullptr);
            });
          if (m >= 64 && p != 8)
            measure("unpack+tma", Route::UnpackTma, cf, xb8, [&](const Epilogue& e, int i) {
              gemm_unpack_tma(ctx, FragWeight{frag[p][size_t(i % cf)], p, n, k}, x, e, nullptr);
            });
          if (p == 8) {
            const int cr = int(rows8.size());
            measure("int8-lt+epi", Route::Int8Lt, cr, xb8, [&](const Epilogue& e, int i) {
              gemm_int8_lt(ctx, rows8[size_t(i % cr)], k, n, x, e, nullptr);
            });
            if (m >= 64)
              measure("int8-tma", Route::Int8Tma, cr, xb8, [&](const Epilogue& e, int i) {
                gemm_int8_tma(ctx, rows8[size_t(i % cr)], k, n, x, e, nullptr);
              });
          }
        }
        if (f.btc && opt.btc && m <= 256) {
          uint32_t*& planes = xplanes[q];
          if (!planes) planes = dalloc<uint32_t>(size_t(8 * max_m * ldw));
          pack_btc_act_device(xq[q], k, m, k, q, planes, ldw, nullptr);
          const int cb = int(btcw[p].size());
          measure("btc", Route::Btc, cb, double(m) * k * q / 8, [&](const Epilogue& e, int i) {
            gemm_btc(ctx, BtcWeight{btcw[p][size_t(i % cb)], p, n, k}, PlaneAct{planes, ldw, q, m, k}, e, nullptr);
          });
        }
      }

      // M = 1 in CUDA graphs: cuBLAS FP16 and the GEMV, each captured the same way; "x FP16" of
      // these rows is against "fp16 graph".
      if (m == 1 && opt.graphs) {
        double fp16_graph_us = 0;
        auto graph_row = [&](const std::string& kernel, const std::string& format, double w_bytes, double x_bytes,
                             const std::function<void(int, cudaStream_t)>& fn, int copies) {
          try {
            add_row(kernel, format, Route::Count, time_graph(fn, copies), w_bytes, x_bytes, 2.0 * n, "",
                    &fp16_graph_us);
          } catch (const std::exception& ex) {
            fail_row(kernel, ex.what());
          }
        };
        const int c16 = int(wf16.size());
        graph_row("fp16 graph", "", 2.0 * n * k, 2.0 * k, [&](int i, cudaStream_t s) {
          cublas_fp16(ctx, 1, n, k, reinterpret_cast<const uint16_t*>(xf16),
                      reinterpret_cast<const uint16_t*>(wf16[size_t(i % c16)]), reinterpret_cast<uint16_t*>(y16), s);
        }, c16);
        for (const Format& f : kFormats) {
          if (!want_format(f) || !f.route_a || !gemvw.count(f.p)) continue;
          const int p = f.p, cg = int(gemvw[p].size());
          Epilogue e;
          e.w_scale = w_scale;
          e.y_f16 = reinterpret_cast<uint16_t*>(y16), e.ld_f16 = n;
          const Int8Act x{xq[f.q], k, 1, k};
          graph_row(std::string(f.name) + " gemv-graph", f.name, double(n) * k * p / 8, double(k),
                    [&](int i, cudaStream_t s) { gemm_gemv(GemvWeight{gemvw[p][size_t(i % cg)], p, n, k}, x, e, s); }, cg);
        }
      }
    }
    std::printf("\n");
    CK(cudaDeviceSynchronize());
    for (auto& [p, v] : frag)
      for (auto* ptr : v) cudaFree(ptr);
    for (auto& [p, v] : btcw)
      for (auto* ptr : v) cudaFree(ptr);
    for (auto& [p, v] : fragd)
      for (auto* ptr : v) cudaFree(ptr);
    for (auto& [p, v] : gemvw)
      for (auto* ptr : v) cudaFree(ptr);
    for (auto* ptr : rows8) cudaFree(ptr);
    for (auto* ptr : wf16) cudaFree(ptr);
    for (auto* ptr : wfp8) cudaFree(ptr);
    for (auto* ptr : fp4w) cudaFree(ptr);
    cudaFree(xe2m1);
    for (auto& [q, ptr] : xq) cudaFree(ptr);
    for (auto& [q, ptr] : xplanes) cudaFree(ptr);
    cudaFree(codes), cudaFree(w_scale), cudaFree(xf16), cudaFree(xfp8), cudaFree(y16), cudaFree(y32), cudaFree(yref);
    cudaFree(wrows_ref), cudaFree(dbad);
  }

  // ---- decode tuning variants (split-K target) -------------------------------------------------------
  if (opt.variants) {
    std::printf("## Variants: staged decode kernel, split-K target (CTAs per SM), W4A4, M = 1\n\n| shape | 1 | 2 | 4 (default) | 8 | 16 |\n|---|---:|---:|---:|---:|---:|\n");
    for (const Shape& sh : kShapes) {
      if (std::string(sh.layer) != "o" && std::string(sh.layer) != "down") continue;
      const int64_t n = sh.n, k = sh.k;
      int8_t* codes = dalloc<int8_t>(size_t(n * k));
      fill_codes<<<kFillGrid, kFillBlock>>>(codes, n * k, -8, 7, 5);
      const size_t bytes = size_t(FragLayout{4, n, k}.bytes());
      const int c = copies_for(bytes, l2);
      std::vector<uint8_t*> w;
      for (int i = 0; i < c; ++i) {
        w.push_back(dalloc<uint8_t>(bytes));
        pack_frag_device(codes, k, n, k, 4, w.back(), nullptr, FragOrder::Decode);
      }
      int8_t* x = dalloc<int8_t>(size_t(k));
      fill_codes<<<kFillGrid, kFillBlock>>>(x, k, -8, 7, 6);
      float* ws = dalloc<float>(size_t(n));
      fill_float<<<kFillGrid, kFillBlock>>>(ws, n, 1e-4f, 2e-4f, 9);
      __half* y = dalloc<__half>(size_t(n));
      std::printf("| %s %s |", sh.model, sh.layer);
      for (int per_sm : {1, 2, 4, 8, 16}) {
        Epilogue e;
        e.w_scale = ws, e.y_f16 = reinterpret_cast<uint16_t*>(y), e.ld_f16 = n;
        auto t = time_it([&](int i) {
          DecodeTuning tu;
          tu.ctas_per_sm = per_sm;
          tu.kernel = DecodeKernel::Staged;
          gemm_decode(ctx, FragWeight{w[size_t(i % c)], 4, n, k, FragOrder::Decode}, Int8Act{x, k, 1, k}, e, nullptr, tu);
        }, c);
        std::printf(" %.2f us (%.2f TB/s) |", t.us, double(bytes) / (t.us * 1e-6) / 1e12);
      }
      std::printf("\n");
      std::fflush(stdout);
      CK(cudaDeviceSynchronize());
      for (auto* ptr : w) cudaFree(ptr);
      cudaFree(codes), cudaFree(x), cudaFree(ws), cudaFree(y);
    }
    std::printf("\n");
  }

  // ---- fused producers -------------------------------------------------------------------------------
  if (opt.variants) {
    std::printf("## Fused producers (FP16 in, int8 codes + bit-planes out)\n\n| producer | M | D | time (us) | GB/s |\n|---|---:|---:|---:|---:|\n");
    for (const auto& [kind, d] : {std::pair<int, int64_t>{0, 4096}, {0, 8192}, {1, 11008}, {1, 28672}})
      for (const int64_t m : {int64_t(1), int64_t(4096)}) {
        __half* a = dalloc<__half>(size_t(m * d));
        __half* b = dalloc<__half>(size_t(m * d));
        float* vec = dalloc<float>(size_t(d));
        fill_f16<<<kFillGrid, kFillBlock>>>(a, m * d, 31);
        fill_f16<<<kFillGrid, kFillBlock>>>(b, m * d, 32);
        fill_float<<<kFillGrid, kFillBlock>>>(vec, d, 1.0f, 20.0f, 33);
        int8_t* codes = dalloc<int8_t>(size_t(m * d));
        const int64_t ldw = btc_act_ld_words(d);
        uint32_t* planes = dalloc<uint32_t>(size_t(4 * m * ldw));
        CodesOut out;
        out.bits = 4, out.i8 = codes, out.ld_i8 = d, out.planes = planes, out.ld_words = ldw;
        auto t = time_it([&](int) {
          if (kind == 0)
            rmsnorm_quantize(a, true, d, m, d, vec, nullptr, 1e-5f, out, nullptr);
          else
            silu_mul_quantize(a, b, true, d, m, d, vec, out, nullptr);
        }, 1);
        const double bytes = double(m) * d * (kind == 0 ? 2 : 4) + double(m) * d * (1 + 0.5);
        std::printf("| %s | %ld | %ld | %.2f | %.0f |\n", kind == 0 ? "rmsnorm->A4 codes+planes" : "silu*up->A4 codes+planes",
                    long(m), long(d), t.us, bytes / (t.us * 1e-6) / 1e9);
        std::fflush(stdout);
        CK(cudaDeviceSynchronize());
        cudaFree(a), cudaFree(b), cudaFree(vec), cudaFree(codes), cudaFree(planes);
      }
    std::printf("\n");
  }

  // ---- summaries -----------------------------------------------------------------------------------------
  std::printf("## Summary: best route per format, speedup over cuBLAS FP16 (route in brackets)\n\n");
  std::printf("| model | layer | M | fp16 us | int8-lt | fp8-lt |");
  for (const Format& f : kFormats)
    if (want_format(f)) std::printf(" %s |", f.name);
  std::printf("\n|---|---|---:|---:|---:|---:|");
  for (const Format& f : kFormats)
    if (want_format(f)) std::printf("---|");
  std::printf("\n");
  std::map<std::tuple<std::string, std::string, int64_t>, std::vector<const Row*>> by_point;
  std::vector<std::tuple<std::string, std::string, int64_t>> order;
  for (const Row& r : rows) {
    auto key = std::make_tuple(r.model, r.layer, r.m);
    if (!by_point.count(key)) order.push_back(key);
    by_point[key].push_back(&r);
  }
  for (const auto& key : order) {
    const auto& v = by_point[key];
    double fp16 = 0, i8 = 0, f8 = 0;
    for (const Row* r : v) {
      if (r->kernel == "fp16") fp16 = r->us;
      if (r->kernel == "int8-lt") i8 = r->us;
      if (r->kernel == "fp8-lt") f8 = r->us;
    }
    std::printf("| %s | %s | %ld | %.1f | %.2f | %.2f |", std::get<0>(key).c_str(), std::get<1>(key).c_str(),
                long(std::get<2>(key)), fp16, i8 > 0 ? fp16 / i8 : 0, f8 > 0 ? fp16 / f8 : 0);
    for (const Format& f : kFormats) {
      if (!want_format(f)) continue;
      const std::string alias = alias_of(f);
      const Row* best = nullptr;
      for (const Row* r : v) {
        const bool mine = r->route != Route::Count && (r->format == f.name || (r->format == alias && r->route != Route::Btc));
        if (mine && r->check.rfind("MISMATCH", 0) != 0 && (!best || r->us < best->us)) best = r;
      }
      if (best)
        std::printf(" %.2f (%s) |", fp16 / best->us, std::string(route_name(best->route)).c_str());
      else
        std::printf(" - |");
    }
    std::printf("\n");
  }
  std::printf("\n");

  // Decode streaming at M = 1: weight TB/s and speedup over FP16 of the GEMV (plain and PDL
  // launches) and of the frag decode kernel, against the targets of issue 11.
  const std::map<std::string, double> kTarget{{"W8A8", 1.9}, {"W6A6", 2.4}, {"W4A4", 3.5}, {"W2A8", 5.0}};
  for (const std::string label : {"gemv", "gemv-nopdl", "decode", "gemv-graph"}) {
    if (label == "gemv-graph")
      std::printf("## Decode (M = 1) in CUDA graphs: weight streaming of `gemv`, launches captured and replayed as a decode "
                  "step would run them (TB/s, us, x cuBLAS FP16 captured the same way; * = speedup target met)\n\n"
                  "| model | layer | fp16 graph us |");
    else
      std::printf("## Decode (M = 1): weight streaming of `%s` (TB/s, us, x FP16; * = speedup target met)\n\n| model | layer |",
                  label.c_str());
    for (const Format& f : kFormats)
      if (want_format(f) && f.route_a) std::printf(" %s |", f.name);
    std::printf("\n|---|---|%s", label == "gemv-graph" ? "---:|" : "");
    for (const Format& f : kFormats)
      if (want_format(f) && f.route_a) std::printf("---:|");
    std::printf("\n");
    for (const auto& key : order) {
      if (std::get<2>(key) != 1) continue;
      std::printf("| %s | %s |", std::get<0>(key).c_str(), std::get<1>(key).c_str());
      if (label == "gemv-graph") {
        double g = 0;
        for (const Row* r : by_point[key])
          if (r->kernel == "fp16 graph") g = r->us;
        std::printf(" %.2f |", g);
      }
      for (const Format& f : kFormats) {
        if (!want_format(f) || !f.route_a) continue;
        const Row* d = nullptr;
        for (const Row* r : by_point[key])
          if (r->kernel == std::string(f.name) + " " + label) d = r;
        const auto target = kTarget.find(f.name);
        if (d)
          std::printf(" %.2f, %.2f, %.2fx%s |", d->weight_tbs, d->us, d->vs_fp16,
                      target != kTarget.end() && d->vs_fp16 >= target->second ? "*" : "");
        else
          std::printf(" - |");
      }
      std::printf("\n");
    }
    std::printf("\n");
  }

  if (!opt.emit_table.empty()) {
    FILE* out = std::fopen(opt.emit_table.c_str(), "w");
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", opt.emit_table.c_str());
      return 1;
    }
    std::fprintf(out, "// Generated by `%s` on %s (%s).\n// {N, K, p, q, M, {routes, fastest first}}\n",
                 opt.command.c_str(), date, prop.name);
    for (const auto& key : order) {
      const auto& v = by_point[key];
      for (const Format& f : kFormats) {
        if (!want_format(f)) continue;
        const std::string alias = alias_of(f);
        std::vector<const Row*> cand;
        for (const Row* r : v) {
          const bool mine = r->route != Route::Count && (r->format == f.name || (r->format == alias && r->route != Route::Btc));
          if ((mine && r->check.rfind("MISMATCH", 0) != 0) || r->kernel == "fp16") cand.push_back(r);
        }
        std::sort(cand.begin(), cand.end(), [](const Row* a, const Row* b) { return a->us < b->us; });
        std::fprintf(out, "{%ld, %ld, %s, %s, %ld, {", long(v.front()->n), long(v.front()->k), table_code(f.p).c_str(),
                     table_code(f.q).c_str(), long(std::get<2>(key)));
        int written = 0;
        for (const Row* r : cand)
          if (written < int(Route::Count)) std::fprintf(out, "%s%s", written++ ? ", " : "", route_enum(r->route).c_str());
        for (; written < int(Route::Count); ++written) std::fprintf(out, "%sE", written ? ", " : "");
        std::fprintf(out, "}},\n");
      }
    }
    std::fclose(out);
  }
  return 0;
}
