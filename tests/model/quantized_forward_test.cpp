// The forward pass with quantized linears and a quantized KV cache: quantized layers are run
// through ops::quantized_linear (a weight-only layer gives exactly the FP forward with its
// dequantized weights), and cached keys / values lie on their grids, identically whether the
// sequence is prefilled in one batch or decoded token by token.
#include <gtest/gtest.h>

#include <cmath>

#include "model/llama.h"
#include "random_model.h"

namespace bitfold::model {
namespace {

quant::QuantSpec spec(const char* format, quant::Granularity g, bool dynamic = false, int64_t group = 0) {
  quant::QuantSpec s;
  s.format = quant::parse_format(format);
  s.granularity = g;
  s.dynamic = dynamic;
  s.group_size = group;
  return s;
}

std::vector<Linear*> linears_of(LlamaWeights& w) {
  std::vector<Linear*> all;
  for (LayerWeights& b : w.layers)
    for (Linear* l : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) all.push_back(l);
  all.push_back(&w.lm_head);
  return all;
}

Tensor logits_of(const LlamaWeights& w, const std::vector<int32_t>& tokens) {
  KVCache cache(w.config, int(tokens.size()));
  return forward(w, tokens, 0, cache, Logits::All);
}

TEST(QuantizedForward, WeightOnlyLayersEqualTheirDequantizedWeights) {
  for (bool tied : {false, true}) {
    LlamaWeights q = testing::random_model({.tied = tied, .bias = true}, 3);
    LlamaWeights dequantized = q;
    const std::vector<Linear*> ql = linears_of(q), dl = linears_of(dequantized);
    for (size_t i = 0; i < ql.size(); ++i) {
      quant::QuantParams none;
      const auto layer = std::make_shared<const quant::QuantizedLinear>(quant::quantize_linear(
          ql[i]->weight, ql[i]->bias, none, spec("int4", quant::Granularity::Group, false, 8), "l"));
      ql[i]->quantized = layer;
      ql[i]->weight = Tensor();  // the forward must not need it
      dl[i]->weight = layer->dequantized_weight();
    }
    const std::vector<int32_t> tokens = {1, 5, 9, 2, 30, 7};
    const Tensor a = logits_of(q, tokens), b = logits_of(dequantized, tokens);
    for (int64_t e = 0; e < a.numel(); ++e) ASSERT_EQ(a.f32()[e], b.f32()[e]) << e;
    EXPECT_EQ(q.layers[0].q.out_features(), q.config.q_dim());  // shapes from the quantized layer
    EXPECT_EQ(q.layers[0].down.in_features(), q.config.hidden_dim);
  }
}

TEST(QuantizedForward, ActivationQuantizedLayersChangeTheLogitsSlightly) {
  LlamaWeights w = testing::random_model({}, 4);
  const LlamaWeights fp = w;
  for (Linear* l : linears_of(w)) {
    quant::QuantParams in;
    in.spec = spec("int8", quant::Granularity::Token, true);
    l->quantized = std::make_shared<const quant::QuantizedLinear>(
        quant::quantize_linear(l->weight, l->bias, in, spec("int8", quant::Granularity::OutputChannel), "l"));
  }
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8};
  const Tensor a = logits_of(w, tokens), b = logits_of(fp, tokens);
  double err = 0, ref = 0;
  bool differ = false;
  for (int64_t e = 0; e < a.numel(); ++e) {
    err += (a.f32()[e] - b.f32()[e]) * (a.f32()[e] - b.f32()[e]);
    ref += b.f32()[e] * b.f32()[e];
    differ = differ || a.f32()[e] != b.f32()[e];
  }
  EXPECT_TRUE(differ);
  EXPECT_LT(err / ref, 1e-3);  // W8A8 per token: small
}

TEST(QuantizedForward, KvCacheHoldsGridValuesAndDecodeEqualsPrefill) {
  LlamaWeights w = testing::random_model({}, 6);
  const ModelConfig& c = w.config;
  const std::vector<int32_t> tokens = {1, 7, 3, 9, 11, 4, 2, 8, 5};
  // Static per-head int4 steps from one FP pass's cache contents.
  KVCache fp_cache(c, int(tokens.size()));
  forward(w, tokens, 0, fp_cache, Logits::None);
  const quant::QuantSpec kv_spec = spec("int4", quant::Granularity::Head, false, c.head_dim);
  for (int l = 0; l < c.n_layers; ++l) {
    auto kv = std::make_shared<KvCacheQuant>();
    kv->key = quant::fit_params(kv_spec, fp_cache.keys(l));
    kv->value = quant::fit_params(kv_spec, fp_cache.values(l));
    w.layers[size_t(l)].kv_quant = kv;
  }
  KVCache prefill(c, int(tokens.size()));
  const Tensor batch = forward(w, tokens, 0, prefill, Logits::All);
  KVCache decode(c, int(tokens.size()));
  for (size_t t = 0; t < tokens.size(); ++t) {
    const Tensor step = forward(w, std::span(tokens).subspan(t, 1), int(t), decode, Logits::Last);
    for (int64_t v = 0; v < c.vocab_size; ++v)
      ASSERT_NEAR(step.f32()[v], batch.f32()[int64_t(t) * c.vocab_size + v], 1e-4f);
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const quant::QuantParams& kp = w.layers[size_t(l)].kv_quant->key;
    const Tensor& keys = prefill.keys(l);
    for (int64_t t = 0; t < int64_t(tokens.size()); ++t)
      for (int64_t j = 0; j < c.kv_dim(); ++j) {
        // On the grid: the value is step · q for an int4 code q (the float product of dequantize).
        const float v = keys.f32()[t * c.kv_dim() + j];
        const double q = std::nearbyint(double(v) / kp.step(t, j));
        EXPECT_EQ(v, kp.step(t, j) * float(q));
        EXPECT_LE(std::fabs(q), 8.0);
        EXPECT_EQ(keys.f32()[t * c.kv_dim() + j], decode.keys(l).f32()[t * c.kv_dim() + j]);
      }
  }
  const Tensor unquantized = logits_of(testing::random_model({}, 6), tokens);
  bool differ = false;
  for (int64_t e = 0; e < batch.numel(); ++e) differ = differ || batch.f32()[e] != unquantized.f32()[e];
  EXPECT_TRUE(differ);
}

}  // namespace
}  // namespace bitfold::model
