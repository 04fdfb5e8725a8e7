#pragma once
// Small random Llama models and a byte-level tokenizer for tests that need a model but not a
// trained one.
#include <cmath>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "model/weights.h"
#include "text/tokenizer.h"

namespace bitfold::testing {

// Uniform in ±[0.1, 1) · scale: never zero, both signs.
inline Tensor random_tensor(Shape shape, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> mag(0.1f, 1.0f);
  std::bernoulli_distribution sign(0.5);
  Tensor t = Tensor::empty(std::move(shape), DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = (sign(rng) ? 1.0f : -1.0f) * mag(rng) * scale;
  return t;
}

struct RandomModelSpec {
  const char* name = "random";
  int dim = 32, hidden = 48, layers = 2, heads = 4, kv_heads = 2, head_dim = 8, vocab = 37;
  bool tied = false, bias = false;
  int max_seq_len = 64;
};

// gtest prints parameters by name.
inline void PrintTo(const RandomModelSpec& v, std::ostream* os) { *os << v.name; }

inline model::Linear random_linear(int64_t out, int64_t in, bool bias, std::mt19937& rng) {
  model::Linear l;
  l.weight = random_tensor({out, in}, rng, 1.0f / std::sqrt(float(in)));
  if (bias) l.bias = random_tensor({out}, rng, 0.1f);
  return l;
}

inline model::LlamaWeights random_model(const RandomModelSpec& v, uint32_t seed) {
  std::mt19937 rng(seed);
  model::LlamaWeights w;
  model::ModelConfig& c = w.config;
  c.dim = v.dim;
  c.hidden_dim = v.hidden;
  c.n_layers = v.layers;
  c.n_heads = v.heads;
  c.n_kv_heads = v.kv_heads;
  c.head_dim = v.head_dim;
  c.vocab_size = v.vocab;
  c.max_seq_len = v.max_seq_len;
  c.tied_embeddings = v.tied;
  c.qkv_bias = v.bias;
  w.token_embedding = random_tensor({c.vocab_size, c.dim}, rng, 1.0f);
  for (int l = 0; l < c.n_layers; ++l) {
    model::LayerWeights L;
    L.attn_norm = random_tensor({c.dim}, rng, 1.0f);
    L.q = random_linear(c.q_dim(), c.dim, v.bias, rng);
    L.k = random_linear(c.kv_dim(), c.dim, v.bias, rng);
    L.v = random_linear(c.kv_dim(), c.dim, v.bias, rng);
    L.o = random_linear(c.dim, c.q_dim(), v.bias, rng);
    L.ffn_norm = random_tensor({c.dim}, rng, 1.0f);
    L.gate = random_linear(c.hidden_dim, c.dim, v.bias, rng);
    L.up = random_linear(c.hidden_dim, c.dim, v.bias, rng);
    L.down = random_linear(c.dim, c.hidden_dim, v.bias, rng);
    w.layers.push_back(std::move(L));
  }
  w.final_norm = random_tensor({c.dim}, rng, 1.0f);
  if (v.tied) {
    w.lm_head.weight = w.token_embedding;
  } else {
    w.lm_head = random_linear(c.vocab_size, c.dim, v.bias, rng);
  }
  return w;
}

// Bytes as tokens: id = byte + 3; 0 unknown, 1 BOS, 2 EOS (which decode to nothing).
class ByteTokenizer : public text::Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids;
    for (unsigned char ch : text) ids.push_back(int32_t(ch) + 3);
    return ids;
  }
  std::string decode(std::span<const int32_t> ids) const override {
    std::string s;
    for (int32_t id : ids)
      if (id >= 3) s.push_back(char(id - 3));
    return s;
  }
  int vocab_size() const override { return 259; }
  int bos_id() const override { return 1; }
  int eos_id() const override { return 2; }
};

}  // namespace bitfold::testing
