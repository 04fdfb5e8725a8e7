// The integer engine's pieces on the GPU (cuda_ops.h), bit-identical to the CPU engine:
//   - the codecs are quant/int_codec.h and quant/float_grid.h line by line (x/Δ divided in double,
//     round half to even with rint, the same clamps and tie rule);
//   - dynamic steps follow quant::fit_params' rule in double, then one rounding to float;
//   - the epilogue and the fake-quant decode use explicit _rn intrinsics, so nvcc cannot contract
//     a multiply and an add into an FMA (the CPU file is compiled with -ffp-contract=off).
// Min and max are exact whatever the reduction order, so the fitted steps equal the CPU's.
#include <cfloat>
#include <cstdint>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cublas_handle.cuh"
#include "ops/cuda/cuda_ops.h"

namespace bitfold::ops::cuda {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int64_t step_index(const StepIndex& s, int64_t row, int64_t col) {
  switch (s.layout) {
    case StepLayout::One: return 0;
    case StepLayout::Row: return row;
    case StepLayout::RowGroup: return row * (s.K / s.group) + col / s.group;
    case StepLayout::Column: return col;
    case StepLayout::ColumnGroup: return col / s.group;
  }
  return 0;
}

// quant::IntCodec::encode.
__device__ __forceinline__ int encode_int(const GridCodec& c, float x, float step, int32_t zero) {
  const double lo = double(c.qmin) - zero;
  const double hi = double(c.qmax) - zero;
  double v = __ddiv_rn(double(x), double(step));
  v = v > lo ? v : lo;  // NaN → lo, as on the CPU
  v = v < hi ? v : hi;
  return int(rint(v)) + zero;
}

// quant::FloatGrid::encode → encode_unit.
__device__ __forceinline__ int encode_float(const GridCodec& c, float x, float step) {
  const double v = __ddiv_rn(double(x), double(step));
  if (v != v) return int(c.nan_result);
  const unsigned sign = signbit(v) ? c.sign_mask : 0u;
  double a = fabs(v);
  a = a < c.max_value ? a : c.max_value;
  const uint64_t bits = uint64_t(__double_as_longlong(a));
  int exponent_field = int(bits >> 52) - 1023 + c.bias;
  exponent_field = exponent_field > 1 ? exponent_field : 1;
  const int k = c.mantissa_bits + c.bias - exponent_field;
  const double t = __dmul_rn(a, __longlong_as_double((long long)(uint64_t(k + 1023) << 52)));
  const int whole = int(t);
  const double fraction = __dsub_rn(t, double(whole));
  int code = ((exponent_field - 1) << c.mantissa_bits) + whole;
  code += int(fraction > 0.5) | (int(fraction == 0.5) & code);
  code = code < c.max_magnitude_code ? code : c.max_magnitude_code;
  return int(sign | unsigned(code));
}

__device__ __forceinline__ int encode(const GridCodec& c, float x, float step, int32_t zero) {
  return c.is_float ? encode_float(c, x, step) : encode_int(c, x, step, zero);
}

// Min / max / finiteness of each segment of `seg` consecutive elements of a row (one block per
// segment); the first row with a non-finite value goes to *bad_row.
__global__ void segment_ranges(const float* __restrict__ x, int64_t segments, int64_t seg,
                               int64_t K, float* __restrict__ lo, float* __restrict__ hi,
                               unsigned long long* bad_row) {
  __shared__ float scratch[32];
  for (int64_t s = blockIdx.x; s < segments; s += gridDim.x) {
    const int64_t per_row = K / seg;
    const int64_t row = s / per_row;
    const float* p = x + row * K + (s % per_row) * seg;
    float l = INFINITY, h = -INFINITY;
    bool finite = true;
    for (int64_t i = threadIdx.x; i < seg; i += blockDim.x) {
      const float v = p[i];
      finite = finite && fabsf(v) <= FLT_MAX;
      l = fminf(l, v);
      h = fmaxf(h, v);
    }
    if (!finite) atomicMin(bad_row, (unsigned long long)row);
    l = -block_max(-l, scratch);
    h = block_max(h, scratch);
    if (threadIdx.x == 0) {
      lo[s] = l;
      hi[s] = h;
    }
  }
}

// quant.cpp's fit_step on one range (a finite one; empty ranges do not occur here).
__device__ void fit_step(const ScaleRule& r, double lo, double hi, float* step_out,
                         int32_t* zero_out, unsigned long long* overflow) {
  double low = 0, step = 0;
  if (r.zero_point) {
    low = __dmul_rn(r.clip, fmin(lo, 0.0));
    step = __ddiv_rn(__dsub_rn(__dmul_rn(r.clip, fmax(hi, 0.0)), low), r.divisor);
  } else {
    step = __ddiv_rn(__dmul_rn(r.clip, fmax(fabs(lo), fabs(hi))), r.divisor);
  }
  if (step == 0) step = 1;
  if (r.pow2) {
    int exponent = 0;
    const double fraction = frexp(step, &exponent);
    if (fraction != 0.5) step = ldexp(1.0, exponent);
  }
  float f = __double2float_rn(step);
  if (!(f >= FLT_MIN)) f = FLT_MIN;
  if (isinf(f)) atomicExch(overflow, 1ull);
  *step_out = f;
  if (r.zero_point) {
    double z = double(r.qmin) + rint(__ddiv_rn(-low, double(f)));
    z = z < double(r.qmin) ? double(r.qmin) : (z > double(r.qmax) ? double(r.qmax) : z);
    *zero_out = int32_t(z);
  }
}

// One step per segment (all = false), or one step for the union of all segments (all = true,
// a single block).
__global__ void fit_segments(const float* __restrict__ lo, const float* __restrict__ hi,
                             int64_t segments, bool all, ScaleRule rule, float* steps,
                             int32_t* zeros, unsigned long long* overflow) {
  __shared__ float scratch[32];
  int32_t unused = 0;
  if (all) {
    float l = INFINITY, h = -INFINITY;
    for (int64_t s = threadIdx.x; s < segments; s += blockDim.x) {
      l = fminf(l, lo[s]);
      h = fmaxf(h, hi[s]);
    }
    l = -block_max(-l, scratch);
    h = block_max(h, scratch);
    if (threadIdx.x == 0) fit_step(rule, l, h, steps, zeros ? zeros : &unused, overflow);
    return;
  }
  for (int64_t s = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; s < segments;
       s += int64_t(gridDim.x) * blockDim.x)
    fit_step(rule, lo[s], hi[s], steps + s, zeros ? zeros + s : &unused, overflow);
}

template <class Real>
__global__ void quantize_kernel(const float* __restrict__ x, int64_t T, int64_t K, GridCodec codec,
                                StepIndex index, const float* __restrict__ steps,
                                const int32_t* __restrict__ zeros,
                                const double* __restrict__ integers, bool subtract_zero,
                                Real* __restrict__ a) {
  const int64_t total = T * K;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = step_index(index, e / K, e % K);
    const int32_t zero = zeros ? zeros[s] : 0;
    const int code = encode(codec, x[e], steps[s], zero);
    double v = integers[uint8_t(code)];
    if (subtract_zero) v = __dsub_rn(v, double(zero));
    a[e] = Real(v);
  }
}

__global__ void fake_quantize_kernel(float* __restrict__ x, int64_t T, int64_t K, GridCodec codec,
                                     StepIndex index, const float* __restrict__ steps,
                                     const int32_t* __restrict__ zeros, GridValues values) {
  const int64_t total = T * K;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = step_index(index, e / K, e % K);
    const int32_t zero = zeros ? zeros[s] : 0;
    const float step = steps[s];
    const int code = encode(codec, x[e], step, zero);
    // IntCodec::decode: step · float(code − z); FloatGrid::decode: step · value(code).
    x[e] = codec.is_float ? __fmul_rn(step, values.value[uint8_t(code)])
                          : __fmul_rn(step, float(code - zero));
  }
}

template <class Real>
__global__ void epilogue_kernel(const Real* __restrict__ acc, const float* __restrict__ sw,
                                const float* __restrict__ sx, StepLayout sx_layout,
                                const float* __restrict__ bias, float* __restrict__ y, int64_t T,
                                int64_t N, int64_t G, int64_t g0, int64_t count) {
  const int64_t total = T * N;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = e / N, i = e % N;
    float out = y[e];
    for (int64_t b = 0; b < count; ++b) {
      const int64_t g = g0 + b;
      float v = __fmul_rn(float(acc[b * total + e]), sw[i * G + g]);  // acc: an exact integer
      if (sx) {
        const int64_t s = sx_layout == StepLayout::One ? 0
                          : sx_layout == StepLayout::Row ? t
                                                         : t * G + g;
        v = __fmul_rn(v, sx[s]);
      }
      if (g > 0) v = __fadd_rn(out, v);
      if (g == G - 1 && bias) v = __fadd_rn(v, bias[i]);
      out = v;
    }
    y[e] = out;
  }
}

}  // namespace

int64_t fit_dynamic_steps(const float* x, int64_t T, int64_t K, StepIndex index, ScaleRule rule,
                          float* steps, int32_t* zeros) {
  if (T == 0 || K == 0) return -1;
  const int64_t seg = index.layout == StepLayout::RowGroup ? index.group : K;
  const int64_t segments = T * (K / seg);
  // Scratch: lo, hi per segment, then the two flags.
  float* lo = nullptr;
  check(cudaMalloc(&lo, size_t(2 * segments) * sizeof(float) + 2 * sizeof(unsigned long long)),
        "quantized_linear");
  float* hi = lo + segments;
  // 2·segments floats before them: the flags stay 8-byte aligned.
  auto* flags = reinterpret_cast<unsigned long long*>(hi + segments);
  const unsigned long long init[2] = {~0ull, 0ull};
  int64_t result = -1;
  try {
    check(cudaMemcpy(flags, init, sizeof(init), cudaMemcpyHostToDevice), "quantized_linear");
    segment_ranges<<<grid_for(segments, 1), kThreads>>>(x, segments, seg, K, lo, hi, flags);
    check_launch("quantized_linear");
    const bool all = index.layout == StepLayout::One;
    fit_segments<<<all ? 1u : grid_for(segments, kThreads), all ? 1024 : kThreads>>>(
        lo, hi, segments, all, rule, steps, zeros, flags + 1);
    check_launch("quantized_linear");
    unsigned long long host[2];
    check(cudaMemcpy(host, flags, sizeof(host), cudaMemcpyDeviceToHost), "quantized_linear");
    if (host[0] != ~0ull) result = int64_t(host[0]);
    else if (host[1] != 0) result = -2;
  } catch (...) {
    cudaFree(lo);
    throw;
  }
  check(cudaFree(lo), "quantized_linear");
  return result;
}

void quantize_to_integers(const float* x, int64_t T, int64_t K, GridCodec codec, StepIndex index,
                          const float* steps, const int32_t* zeros, const double* integers,
                          bool subtract_zero, void* a, bool a_f64) {
  if (T * K == 0) return;
  if (a_f64)
    quantize_kernel<double><<<grid_for(T * K, kThreads), kThreads>>>(
        x, T, K, codec, index, steps, zeros, integers, subtract_zero, static_cast<double*>(a));
  else
    quantize_kernel<float><<<grid_for(T * K, kThreads), kThreads>>>(
        x, T, K, codec, index, steps, zeros, integers, subtract_zero, static_cast<float*>(a));
  check_launch("quantized_linear");
}

void fake_quantize(float* x, int64_t T, int64_t K, GridCodec codec, StepIndex index,
                   const float* steps, const int32_t* zeros, const GridValues& values) {
  if (T * K == 0) return;
  fake_quantize_kernel<<<grid_for(T * K, kThreads), kThreads>>>(x, T, K, codec, index, steps,
                                                                zeros, values);
  check_launch("fake_quantize");
}

void integer_block_products(const void* a, const void* w, void* acc, bool f64, int64_t T,
                            int64_t N, int64_t K, int64_t B, int64_t g0, int64_t count) {
  if (T > INT32_MAX || N > INT32_MAX || K > INT32_MAX || T * N > INT32_MAX)
    raise("quantized_linear", "dimension beyond 2^31");
  // Row-major acc[T,N] = a[T,B] w[N,B]ᵀ is column-major accᵀ[N,T] = (w as B×N)ᵀ · (a as B×T),
  // one batch entry per block: operands advance by B columns, results by T·N.
  Blas& b = blas();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (f64) {
    const double one = 1, zero = 0;
    const double* wp = static_cast<const double*>(w) + g0 * B;
    const double* ap = static_cast<const double*>(a) + g0 * B;
    check_blas(cublasDgemmStridedBatched(b.handle, CUBLAS_OP_T, CUBLAS_OP_N, int(N), int(T),
                                         int(B), &one, wp, int(K), B, ap, int(K), B, &zero,
                                         static_cast<double*>(acc), int(N), T * N, int(count)),
               "quantized_linear");
  } else {
    const float one = 1, zero = 0;
    const float* wp = static_cast<const float*>(w) + g0 * B;
    const float* ap = static_cast<const float*>(a) + g0 * B;
    check_blas(cublasSgemmStridedBatched(b.handle, CUBLAS_OP_T, CUBLAS_OP_N, int(N), int(T),
                                         int(B), &one, wp, int(K), B, ap, int(K), B, &zero,
                                         static_cast<float*>(acc), int(N), T * N, int(count)),
               "quantized_linear");
  }
}

void quantized_epilogue(const void* acc, bool f64, const float* sw, const float* sx,
                        StepLayout sx_layout, const float* bias, float* y, int64_t T, int64_t N,
                        int64_t G, int64_t g0, int64_t count) {
  if (T * N == 0) return;
  if (f64)
    epilogue_kernel<double><<<grid_for(T * N, kThreads), kThreads>>>(
        static_cast<const double*>(acc), sw, sx, sx_layout, bias, y, T, N, G, g0, count);
  else
    epilogue_kernel<float><<<grid_for(T * N, kThreads), kThreads>>>(
        static_cast<const float*>(acc), sw, sx, sx_layout, bias, y, T, N, G, g0, count);
  check_launch("quantized_linear");
}

}  // namespace bitfold::ops::cuda
