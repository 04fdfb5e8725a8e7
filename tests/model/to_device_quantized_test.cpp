// model::to_device of quantized models: integer-engine linears and KV-cache quantization travel
// with the copy. On the CPU the copy shares them; on the GPU the forward equals the CPU's up to
// the float rounding of the unquantized ops (prefill and decode), and a GPU round trip gives the
// CPU model back bit for bit. Folded norm extras travel too; a
// bad channel map is refused before any copy.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <random>

#include "calib/calibration_set.h"
#include "file_fixtures.h"
#include "methods/pipeline.h"
#include "model/llama.h"
#include "model/to_device.h"
#include "quant/quantized_linear.h"
#include "quant/recipe.h"
#include "random_model.h"
#include "test_support.h"

namespace bitfold::model {
namespace {

LlamaWeights quantized_model() {
  LlamaWeights w = testing::random_model({}, 23);
  quant::QuantSpec ws;
  ws.format = quant::parse_format("int4");
  ws.granularity = quant::Granularity::OutputChannel;
  Linear& q = w.layers[0].q;
  q.quantized = std::make_shared<const quant::QuantizedLinear>(
      quant::quantize_linear(q.weight, q.bias, quant::QuantParams{}, ws, "q"));
  auto kv = std::make_shared<KvCacheQuant>();
  kv->key.spec.format = kv->value.spec.format = quant::parse_format("int8");
  kv->key.spec.granularity = kv->value.spec.granularity = quant::Granularity::Token;
  kv->key.spec.dynamic = kv->value.spec.dynamic = true;
  w.layers[1].kv_quant = kv;
  return w;
}

// Every linear quantized by the pipeline (RTN), static KV-cache steps per head: W-bits A-bits.
LlamaWeights pipeline_quantized(int bits, const std::string& act, bool bias) {
  testing::RandomModelSpec spec;
  spec.bias = bias;
  const LlamaWeights w = testing::random_model(spec, 31);
  std::vector<int32_t> tokens(400);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 7 + i / 5) % 37);
  const calib::CalibrationSet set =
      calib::sample_calibration_set(tokens, "random", w.config, {.samples = 4, .length = 32, .seed = 1});
  quant::RecipeFlags f;
  f.method = "rtn";
  f.weights = f.activations = std::to_string(bits);
  f.act = act;
  f.kv = "8";
  methods::QuantizeOptions options;
  options.progress = false;
  return methods::quantize_model(w, quant::recipe_from_flags(f), set, options).weights;
}

Tensor logits(const LlamaWeights& w, Device device = Device::CPU) {
  const std::vector<int32_t> tokens = {1, 4, 9, 16, 25, 36, 12, 3, 30, 7, 0, 21};
  KVCache cache(w.config, int(tokens.size()), device);
  return forward(w, tokens, 0, cache, Logits::All).to(Device::CPU);
}

double rel_diff(const Tensor& a, const Tensor& b) {
  double err = 0, mag = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    if (!std::isfinite(a.f32()[i])) return INFINITY;
    err = std::max(err, std::abs(double(a.f32()[i]) - b.f32()[i]));
    mag = std::max(mag, std::abs(double(b.f32()[i])));
  }
  return err / std::max(mag, 1e-30);
}

TEST(ToDevice, CpuCopyKeepsQuantizedLinearsAndKvQuantization) {
  const LlamaWeights w = quantized_model();
  const LlamaWeights copy = to_device(w, Device::CPU);
  EXPECT_EQ(copy.layers[0].q.quantized, w.layers[0].q.quantized);
  EXPECT_EQ(copy.layers[1].kv_quant, w.layers[1].kv_quant);
  const Tensor a = logits(w), b = logits(copy);
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0);
  // ... and the quantization matters: the FP model gives other logits.
  const Tensor fp = logits(testing::random_model({}, 23));
  EXPECT_NE(std::memcmp(a.raw(), fp.raw(), a.nbytes()), 0);
}

// A model carrying the folds' norm extras (docs/transforms.md): a bias after each RMSNorm and a
// channel map (here a permutation with repeats, K = dim) before q/k/v.
LlamaWeights folded_model() {
  LlamaWeights w = testing::random_model({}, 23);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::uniform_int_distribution<int32_t> ch(0, w.config.dim - 1);
  for (LayerWeights& l : w.layers) {
    l.attn_norm_bias = Tensor::empty({w.config.dim}, DType::F32);
    l.ffn_norm_bias = Tensor::empty({w.config.dim}, DType::F32);
    l.attn_norm_channels = Tensor::empty({w.config.dim}, DType::I32);
    for (int i = 0; i < w.config.dim; ++i) {
      l.attn_norm_bias.f32()[i] = u(rng);
      l.ffn_norm_bias.f32()[i] = u(rng);
      l.attn_norm_channels.data<int32_t>()[i] = ch(rng);
    }
  }
  return w;
}

TEST(ToDevice, ABadChannelMapIsRefusedBeforeAnyCopy) {
  LlamaWeights w = folded_model();
  w.layers[1].attn_norm_channels.data<int32_t>()[3] = w.config.dim;
  testing::expect_error([&] { to_device(w, Device::CUDA); },
                        {"attention norm channel map entry 3", "outside [0, "});
}

TEST(ToDevice, GpuForwardWithFoldedNormExtrasMatchesTheCpu) {
  BITFOLD_REQUIRE_CUDA();
  const LlamaWeights cpu = folded_model();
  const Tensor want = logits(cpu);
  const double d = rel_diff(logits(to_device(cpu, Device::CUDA), Device::CUDA), want);
  EXPECT_LT(d, 1e-5);
  // ... and the extras matter: without them the logits differ.
  EXPECT_GT(rel_diff(logits(testing::random_model({}, 23)), want), 1e-3);
}

TEST(ToDevice, GpuQuantizedForwardMatchesTheCpu) {
  BITFOLD_REQUIRE_CUDA();
  struct Case { int bits; const char* act; bool bias; double tolerance; };
  // W8A8: a code moved by the float rounding upstream changes a logit by ~1e-6 of its range;
  // W4A4 codes are 16× coarser.
  for (const Case c : {Case{8, "static-channel", false, 1e-4}, Case{8, "dynamic-token", true, 1e-4},
                       Case{4, "static-channel", false, 2e-3}, Case{4, "static-tensor", true, 2e-3}}) {
    SCOPED_TRACE(::testing::Message() << "W" << c.bits << "A" << c.bits << " " << c.act);
    const LlamaWeights cpu = pipeline_quantized(c.bits, c.act, c.bias);
    ASSERT_TRUE(cpu.layers[0].down.quantized && cpu.layers[0].kv_quant);
    const LlamaWeights gpu = to_device(cpu, Device::CUDA);
    EXPECT_EQ(gpu.layers[0].down.quantized->device(), Device::CUDA);
    EXPECT_EQ(cpu.layers[0].down.quantized->device(), Device::CPU);
    const Tensor want = logits(cpu);
    const double d = rel_diff(logits(gpu, Device::CUDA), want);
    std::cout << "[ cuda     ] W" << c.bits << "A" << c.bits << " " << c.act
              << " logits max rel diff " << d << "\n";
    EXPECT_LT(d, c.tolerance);

    // Decode: a prefill of 5 then one token at a time through the GPU cache (quantized rows).
    const std::vector<int32_t> tokens = {1, 4, 9, 16, 25, 36, 12, 3, 30, 7, 0, 21};
    KVCache cache(gpu.config, int(tokens.size()), Device::CUDA);
    forward(gpu, std::span(tokens).subspan(0, 5), 0, cache, Logits::Last);
    for (int pos = 5; pos < int(tokens.size()); ++pos) {
      const Tensor step = forward(gpu, std::span(tokens).subspan(size_t(pos), 1), pos, cache,
                                  Logits::Last).to(Device::CPU);
      EXPECT_LT(rel_diff(step, want.slice_rows(pos, pos + 1)), c.tolerance) << "decode at " << pos;
    }

    // Round trip: back on the CPU, the model is the original one.
    const Tensor back = logits(to_device(gpu, Device::CPU));
    EXPECT_EQ(std::memcmp(back.raw(), want.raw(), want.nbytes()), 0);
  }
}

}  // namespace
}  // namespace bitfold::model
