// Dispatch: checks shapes, dtypes and devices once, then hands raw buffers to a backend. A
// mismatch here is a bug in the caller (the loaders validate user files), hence BITFOLD_CHECK.
#include "ops/ops.h"

#include <cmath>
#include <initializer_list>

#include "core/error.h"
#include "ops/cpu/cpu_ops.h"
#ifdef BITFOLD_HAVE_CUDA
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/quantized_host.h"
#endif
#include "quant/quantized_linear.h"
#include "quant/quantizer.h"

namespace bitfold::ops {

namespace {

void check_f32(const Tensor& t, const char* op, const char* name) {
  BITFOLD_CHECK(t.defined(), "ops::{}: {} is undefined", op, name);
  BITFOLD_CHECK(t.dtype() == DType::F32, "ops::{}: {} is {}, expected F32", op, name,
                dtype_name(t.dtype()));
}

void check_rank(const Tensor& t, int rank, const char* op, const char* name) {
  BITFOLD_CHECK(t.rank() == rank, "ops::{}: {} has shape {}, expected rank {}", op, name,
                shape_str(t.shape()), rank);
}

// True for CPU; false for CUDA tensors, which the caller hands to ops/cuda (a build without CUDA
// cannot hold any). All tensors of one op must live on one device.
bool on_cpu(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Device device = (*tensors.begin())->device();
  for (const Tensor* t : tensors)
    if (t->defined())
      BITFOLD_CHECK(t->device() == device, "ops::{}: tensors on different devices", op);
#ifndef BITFOLD_HAVE_CUDA
  if (device != Device::CPU) fail("ops::{}: this bitfold was built without CUDA", op);
#endif
  return device == Device::CPU;
}

#ifdef BITFOLD_HAVE_CUDA
#define BITFOLD_ON_CUDA(call) cuda::call
#else
#define BITFOLD_ON_CUDA(call) ((void)0)
#endif

}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) {
  check_f32(x, "linear", "x");
  check_f32(w, "linear", "w");
  check_f32(y, "linear", "y");
  check_rank(x, 2, "linear", "x");
  check_rank(w, 2, "linear", "w");
  check_rank(y, 2, "linear", "y");
  const int64_t T = x.dim(0), K = x.dim(1), N = w.dim(0);
  BITFOLD_CHECK(w.dim(1) == K && y.dim(0) == T && y.dim(1) == N,
                "ops::linear: x {} · w {}ᵀ does not give y {}", shape_str(x.shape()),
                shape_str(w.shape()), shape_str(y.shape()));
  if (bias.defined()) {
    check_f32(bias, "linear", "bias");
    BITFOLD_CHECK(bias.numel() == N, "ops::linear: bias {} for {} outputs", shape_str(bias.shape()),
                  N);
  }
  const float* b = bias.defined() ? bias.f32() : nullptr;
  if (on_cpu("linear", {&x, &w, &bias, &y}))
    cpu::linear(x.f32(), w.f32(), b, y.f32(), T, N, K);
  else
    BITFOLD_ON_CUDA(linear(x.f32(), w.f32(), b, y.f32(), T, N, K));
}

void quantized_linear(const Tensor& x, const quant::QuantizedLinear& layer, Tensor& y) {
  check_f32(x, "quantized_linear", "x");
  check_f32(y, "quantized_linear", "y");
  check_rank(x, 2, "quantized_linear", "x");
  check_rank(y, 2, "quantized_linear", "y");
  BITFOLD_CHECK(x.dim(1) == layer.in_features() && y.dim(0) == x.dim(0) &&
                    y.dim(1) == layer.out_features(),
                "ops::quantized_linear: x {} through {} ([{}, {}]) does not give y {}",
                shape_str(x.shape()), layer.name(), layer.out_features(), layer.in_features(),
                shape_str(y.shape()));
  const bool cpu = on_cpu("quantized_linear", {&x, &y});
  BITFOLD_CHECK(layer.device() == x.device(),
                "ops::quantized_linear: {} has its operands on the {} but x is on the {} (move the "
                "model with model::to_device)",
                layer.name(), layer.device() == Device::CPU ? "CPU" : "GPU", cpu ? "CPU" : "GPU");
  if (cpu)
    cpu::quantized_linear(x, layer, y.f32());
  else
    BITFOLD_ON_CUDA(quantized_linear(x, layer, y.f32()));
}

void fake_quantize(Tensor& x, const quant::QuantParams& params) {
  check_f32(x, "fake_quantize", "x");
  check_rank(x, 2, "fake_quantize", "x");
  if (on_cpu("fake_quantize", {&x})) {
    const Tensor rounded = params.spec.dynamic ? quant::fake_quantize(x, params.spec)
                                               : quant::fake_quantize(x, params);
    if (rounded.raw() != x.raw()) x.copy_from(rounded);
  } else {
    BITFOLD_ON_CUDA(fake_quantize_rows(x, params));
  }
}

void rmsnorm(const Tensor& x, const Tensor& gamma, float eps, Tensor& y) {
  check_f32(x, "rmsnorm", "x");
  check_f32(gamma, "rmsnorm", "gamma");
  check_f32(y, "rmsnorm", "y");
  check_rank(x, 2, "rmsnorm", "x");
  BITFOLD_CHECK(y.shape() == x.shape() && gamma.numel() == x.dim(1),
                "ops::rmsnorm: x {}, gamma {}, y {}", shape_str(x.shape()),
                shape_str(gamma.shape()), shape_str(y.shape()));
  if (on_cpu("rmsnorm", {&x, &gamma, &y}))
    cpu::rmsnorm(x.f32(), gamma.f32(), eps, y.f32(), x.dim(0), x.dim(1));
  else
    BITFOLD_ON_CUDA(rmsnorm(x.f32(), gamma.f32(), eps, y.f32(), x.dim(0), x.dim(1)));
}

void rmsnorm_gather_bias(const Tensor& x, const Tensor& channels, const Tensor& gamma,
                         const Tensor& beta, float eps, Tensor& y) {
  check_f32(x, "rmsnorm_gather_bias", "x");
  check_f32(gamma, "rmsnorm_gather_bias", "gamma");
  check_f32(y, "rmsnorm_gather_bias", "y");
  check_rank(x, 2, "rmsnorm_gather_bias", "x");
  check_rank(y, 2, "rmsnorm_gather_bias", "y");
  const int64_t T = x.dim(0), D = x.dim(1), K = y.dim(1);
  BITFOLD_CHECK(y.dim(0) == T && gamma.numel() == K && (channels.defined() || K == D),
                "ops::rmsnorm_gather_bias: x {}, gamma {}, y {}", shape_str(x.shape()),
                shape_str(gamma.shape()), shape_str(y.shape()));
  BITFOLD_CHECK(y.raw() != x.raw(), "ops::rmsnorm_gather_bias: y aliases x");
  if (channels.defined()) {
    BITFOLD_CHECK(channels.dtype() == DType::I32 && channels.numel() == K,
                  "ops::rmsnorm_gather_bias: channels {} {} for {} outputs",
                  dtype_name(channels.dtype()), shape_str(channels.shape()), K);
    if (channels.is_cpu())
      for (int64_t k = 0; k < K; ++k)
        BITFOLD_CHECK(channels.data<int32_t>()[k] >= 0 && channels.data<int32_t>()[k] < D,
                      "ops::rmsnorm_gather_bias: channel map entry {} = {} outside [0, {})", k,
                      channels.data<int32_t>()[k], D);
  }
  if (beta.defined()) {
    check_f32(beta, "rmsnorm_gather_bias", "beta");
    BITFOLD_CHECK(beta.numel() == K, "ops::rmsnorm_gather_bias: beta {} for {} outputs",
                  shape_str(beta.shape()), K);
  }
  if (on_cpu("rmsnorm_gather_bias", {&x, &channels, &gamma, &beta, &y}))
    cpu::rmsnorm_gather_bias(x.f32(), channels.defined() ? channels.data<int32_t>() : nullptr,
                             gamma.f32(), beta.defined() ? beta.f32() : nullptr, eps, y.f32(), T,
                             D, K);
  else  // a device channel map is checked where it is made or moved (model::to_device)
    BITFOLD_ON_CUDA(rmsnorm_gather_bias(x.f32(), channels.defined() ? channels.data<int32_t>() : nullptr,
                                        gamma.f32(), beta.defined() ? beta.f32() : nullptr, eps,
                                        y.f32(), T, D, K));
}

RopeTable rope_table(int head_dim, int max_pos, float theta, Device device) {
  BITFOLD_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope_table: head_dim {} must be even",
                head_dim);
  BITFOLD_CHECK(max_pos >= 0, "rope_table: max_pos {}", max_pos);
  const int half = head_dim / 2;
  // Hugging Face (LlamaRotaryEmbedding, default rope type):
  //   inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))    all F32
  //   freqs = position.float() * inv_freq;  cos = freqs.cos(); sin = freqs.sin()
  // llama2.c computes the same numbers. cos/sin of the F32 angle are taken in double and rounded
  // once, i.e. correctly rounded F32 results.
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) {
    const float exponent = float(2 * i) / float(head_dim);
    inv_freq[size_t(i)] = 1.0f / std::pow(theta, exponent);
  }
  Tensor cos = Tensor::empty({max_pos, half}, DType::F32);
  Tensor sin = Tensor::empty({max_pos, half}, DType::F32);
  for (int p = 0; p < max_pos; ++p) {
    for (int i = 0; i < half; ++i) {
      const float angle = float(p) * inv_freq[size_t(i)];
      cos.f32()[int64_t(p) * half + i] = float(std::cos(double(angle)));
      sin.f32()[int64_t(p) * half + i] = float(std::sin(double(angle)));
    }
  }
  return RopeTable{cos.to(device), sin.to(device), head_dim};
}

void rope(Tensor& x, const RopeTable& table, int start_pos) {
  check_f32(x, "rope", "x");
  check_rank(x, 2, "rope", "x");
  const int hd = table.head_dim;
  BITFOLD_CHECK(hd > 0 && x.dim(1) % hd == 0, "ops::rope: width {} is not a multiple of head_dim {}",
                x.dim(1), hd);
  BITFOLD_CHECK(start_pos >= 0 && start_pos + x.dim(0) <= table.max_pos(),
                "ops::rope: positions [{}, {}) beyond the table's {}", start_pos,
                start_pos + x.dim(0), table.max_pos());
  if (on_cpu("rope", {&x, &table.cos, &table.sin}))
    cpu::rope(x.f32(), table.cos.f32(), table.sin.f32(), x.dim(0), x.dim(1), hd, start_pos);
  else
    BITFOLD_ON_CUDA(rope(x.f32(), table.cos.f32(), table.sin.f32(), x.dim(0), x.dim(1), hd,
                         start_pos));
}

void rope(Tensor& x, int head_dim, int start_pos, float theta) {
  check_rank(x, 2, "rope", "x");
  const RopeTable table = rope_table(head_dim, start_pos + int(x.dim(0)), theta, x.device());
  rope(x, table, start_pos);
}

void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int n_heads,
               int n_kv_heads, int head_dim, int start_pos, Tensor& out) {
  check_f32(q, "attention", "q");
  check_f32(k_cache, "attention", "k_cache");
  check_f32(v_cache, "attention", "v_cache");
  check_f32(out, "attention", "out");
  check_rank(q, 2, "attention", "q");
  BITFOLD_CHECK(n_heads > 0 && n_kv_heads > 0 && n_heads % n_kv_heads == 0 && head_dim > 0,
                "ops::attention: {} heads, {} KV heads, head_dim {}", n_heads, n_kv_heads,
                head_dim);
  const int64_t T = q.dim(0);
  const int64_t q_dim = int64_t(n_heads) * head_dim, kv_dim = int64_t(n_kv_heads) * head_dim;
  BITFOLD_CHECK(q.dim(1) == q_dim && out.shape() == q.shape(),
                "ops::attention: q {}, out {} for {} heads of {}", shape_str(q.shape()),
                shape_str(out.shape()), n_heads, head_dim);
  for (const Tensor* c : {&k_cache, &v_cache})
    BITFOLD_CHECK(c->rank() == 2 && c->dim(1) == kv_dim && c->dim(0) >= start_pos + T &&
                      start_pos >= 0,
                  "ops::attention: cache {} for positions up to {} of width {}",
                  shape_str(c->shape()), start_pos + T, kv_dim);
  if (on_cpu("attention", {&q, &k_cache, &v_cache, &out}))
    cpu::attention(q.f32(), k_cache.f32(), v_cache.f32(), out.f32(), T, n_heads, n_kv_heads,
                   head_dim, start_pos);
  else
    BITFOLD_ON_CUDA(attention(q.f32(), k_cache.f32(), v_cache.f32(), out.f32(), T, n_heads,
                              n_kv_heads, head_dim, start_pos));
}

void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out) {
  check_f32(gate, "silu_mul", "gate");
  check_f32(up, "silu_mul", "up");
  check_f32(out, "silu_mul", "out");
  BITFOLD_CHECK(gate.shape() == up.shape() && out.shape() == gate.shape(),
                "ops::silu_mul: gate {}, up {}, out {}", shape_str(gate.shape()),
                shape_str(up.shape()), shape_str(out.shape()));
  if (on_cpu("silu_mul", {&gate, &up, &out}))
    cpu::silu_mul(gate.f32(), up.f32(), out.f32(), gate.numel());
  else
    BITFOLD_ON_CUDA(silu_mul(gate.f32(), up.f32(), out.f32(), gate.numel()));
}

void add_inplace(Tensor& x, const Tensor& y) {
  check_f32(x, "add_inplace", "x");
  check_f32(y, "add_inplace", "y");
  BITFOLD_CHECK(x.shape() == y.shape(), "ops::add_inplace: x {}, y {}", shape_str(x.shape()),
                shape_str(y.shape()));
  if (on_cpu("add_inplace", {&x, &y}))
    cpu::add_inplace(x.f32(), y.f32(), x.numel());
  else
    BITFOLD_ON_CUDA(add_inplace(x.f32(), y.f32(), x.numel()));
}

void embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out) {
  BITFOLD_CHECK(table.defined() && table.rank() == 2, "ops::embedding: table {}",
                shape_str(table.shape()));
  const DType dtype = table.dtype();
  BITFOLD_CHECK(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16,
                "ops::embedding: table is {}, expected F32, F16 or BF16", dtype_name(dtype));
  check_f32(out, "embedding", "out");
  const int64_t D = table.dim(1);
  BITFOLD_CHECK(out.rank() == 2 && out.dim(0) == int64_t(ids.size()) && out.dim(1) == D,
                "ops::embedding: out {} for {} ids of width {}", shape_str(out.shape()),
                ids.size(), D);
  for (int32_t id : ids)
    if (id < 0 || id >= table.dim(0))
      fail("token id {} is outside the embedding table of {} rows (tokenizer and model do not "
           "match?)",
           id, table.dim(0));
  if (on_cpu("embedding", {&table, &out}))
    cpu::embedding(table.raw(), dtype, D, ids.data(), int64_t(ids.size()), out.f32());
  else
    BITFOLD_ON_CUDA(embedding(table.raw(), dtype, D, ids.data(), int64_t(ids.size()), out.f32()));
}

std::vector<double> token_nll(const Tensor& logits, std::span<const int32_t> targets) {
  check_f32(logits, "token_nll", "logits");
  check_rank(logits, 2, "token_nll", "logits");
  const int64_t T = logits.dim(0), V = logits.dim(1);
  BITFOLD_CHECK(int64_t(targets.size()) == T && V > 0, "ops::token_nll: {} targets for logits {}",
                targets.size(), shape_str(logits.shape()));
  for (int32_t id : targets)
    BITFOLD_CHECK(id >= 0 && id < V, "ops::token_nll: target {} outside a vocabulary of {}", id, V);
  std::vector<double> nll(static_cast<size_t>(T));
  if (on_cpu("token_nll", {&logits}))
    cpu::token_nll(logits.f32(), targets.data(), T, V, nll.data());
  else
    BITFOLD_ON_CUDA(token_nll(logits.f32(), targets.data(), T, V, nll.data()));
  return nll;
}

}  // namespace bitfold::ops
