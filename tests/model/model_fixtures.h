#pragma once
// Random models of any configuration, and tensor-by-tensor comparison of two models.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "model/hf_layout.h"
#include "model/weights.h"

namespace bitfold::testing {

inline model::ModelConfig tiny_config(const std::string& architecture = "llama") {
  model::ModelConfig c;
  c.architecture = architecture;
  c.dim = 32;
  c.hidden_dim = 48;
  c.n_layers = 4;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 40;
  c.max_seq_len = 64;
  c.norm_eps = 1e-6f;
  c.rope_theta = 500000.0f;
  c.qkv_bias = architecture == "qwen2";
  return c;
}

inline model::LlamaWeights random_weights(const model::ModelConfig& config, uint32_t seed = 1) {
  model::LlamaWeights w;
  w.config = config;
  w.layers.resize(size_t(config.n_layers));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  model::for_each_hf_tensor(w, [&](const std::string&, const Shape& shape, Tensor& t) {
    t = Tensor::empty(shape, DType::F32);
    for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = normal(rng);
  });
  if (config.tied_embeddings) w.lm_head.weight = w.token_embedding;
  return w;
}

inline bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// Every tensor of `actual` equals `expected` rounded through `dtype` (F32: bit for bit).
inline void expect_same_weights(const model::LlamaWeights& expected,
                                const model::LlamaWeights& actual, DType dtype = DType::F32) {
  ASSERT_EQ(expected.layers.size(), actual.layers.size());
  std::vector<const Tensor*> theirs;
  model::for_each_hf_tensor(
      actual, [&](const std::string&, const Shape&, const Tensor& t) { theirs.push_back(&t); });
  size_t i = 0;
  model::for_each_hf_tensor(expected, [&](const std::string& name, const Shape&, const Tensor& t) {
    ASSERT_LT(i, theirs.size());
    const Tensor rounded = t.to(dtype).to(DType::F32);
    EXPECT_TRUE(bit_equal(rounded, *theirs[i])) << name;
    ++i;
  });
  EXPECT_EQ(i, theirs.size());
  EXPECT_TRUE(bit_equal(expected.lm_head.weight.to(dtype).to(DType::F32), actual.lm_head.weight));
}

}  // namespace bitfold::testing
