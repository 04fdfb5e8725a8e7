// The whole forward on the GPU (model::to_device + the CUDA ops) against the CPU forward: logits
// of a prefill, and of a prefill followed by decode steps through the GPU KV cache, within 1e-5
// relative (max |gpu − cpu| / max |cpu|) on the bundled checkpoints and a random biased model.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "model/llama.h"
#include "model/loader.h"
#include "model/to_device.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace bitfold::model {
namespace {

constexpr double kMaxRelativeError = 1e-5;

double rel_diff(const Tensor& gpu, const Tensor& cpu) {
  const Tensor g = gpu.to(Device::CPU);
  EXPECT_EQ(g.shape(), cpu.shape());
  double err = 0, mag = 0;
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    const double a = g.f32()[i], b = cpu.f32()[i];
    if (!std::isfinite(a)) return INFINITY;
    err = std::max(err, std::abs(a - b));
    mag = std::max(mag, std::abs(b));
  }
  return err / std::max(mag, 1e-30);
}

std::vector<int32_t> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (auto& t : out) t = id(rng);
  return out;
}

// All-position logits of `tokens` on both devices, then the same tokens as a prefill of `split`
// and one decode step per remaining token on the GPU, each step's logits against the CPU's row.
void expect_gpu_forward_matches(const LlamaWeights& cpu, const std::vector<int32_t>& tokens,
                                int split, const std::string& name) {
  const LlamaWeights gpu = to_device(cpu, Device::CUDA);
  ASSERT_EQ(gpu.token_embedding.device(), Device::CUDA);
  const int T = int(tokens.size());
  KVCache cpu_cache(cpu.config, T);
  KVCache gpu_cache(gpu.config, T, Device::CUDA);
  const Tensor want = forward(cpu, tokens, 0, cpu_cache, Logits::All);
  const Tensor got = forward(gpu, tokens, 0, gpu_cache, Logits::All);
  EXPECT_LT(rel_diff(got, want), kMaxRelativeError) << name << ": prefill of " << T;

  KVCache step_cache(gpu.config, T, Device::CUDA);
  const std::span<const int32_t> all(tokens);
  Tensor last = forward(gpu, all.subspan(0, size_t(split)), 0, step_cache, Logits::Last);
  EXPECT_LT(rel_diff(last, want.slice_rows(split - 1, split)), kMaxRelativeError)
      << name << ": last logits of a prefill of " << split;
  for (int pos = split; pos < T; ++pos) {
    last = forward(gpu, all.subspan(size_t(pos), 1), pos, step_cache, Logits::Last);
    EXPECT_LT(rel_diff(last, want.slice_rows(pos, pos + 1)), kMaxRelativeError)
        << name << ": decode step at position " << pos;
  }
}

TEST(CudaForward, TinyGqaCheckpointMatchesCpu) {
  BITFOLD_REQUIRE_CUDA();
  const LlamaWeights w = load_weights(testing::repo_path("tests/data/golden/tiny-gqa"));
  expect_gpu_forward_matches(w, random_tokens(37, w.config.vocab_size, 1), 30, "tiny-gqa");
}

TEST(CudaForward, DemoModelMatchesCpu) {
  BITFOLD_REQUIRE_CUDA();
  const LlamaWeights w = load_weights(testing::repo_path("models/pyshakes-15m-hf"));
  const LlamaWeights gpu = to_device(w, Device::CUDA);
  EXPECT_EQ(gpu.lm_head.weight.raw(), gpu.token_embedding.raw()) << "the tie was not kept";
  expect_gpu_forward_matches(w, random_tokens(150, w.config.vocab_size, 2), 140, "pyshakes-15m");
}

TEST(CudaForward, RandomModelWithQkvBiasMatchesCpu) {
  BITFOLD_REQUIRE_CUDA();
  const LlamaWeights w = testing::random_weights(testing::tiny_config("qwen2"), 3);
  ASSERT_TRUE(w.layers[0].q.bias.defined());
  expect_gpu_forward_matches(w, random_tokens(20, w.config.vocab_size, 4), 11, "qwen2-style");
}

TEST(CudaForward, ToDeviceRoundTripKeepsEveryByte) {
  BITFOLD_REQUIRE_CUDA();
  const LlamaWeights w = testing::random_weights(testing::tiny_config("qwen2"), 5);
  const LlamaWeights back = to_device(to_device(w, Device::CUDA), Device::CPU);
  testing::expect_same_weights(w, back);
}

TEST(ToDevice, SameDeviceSharesTheTensors) {
  model::ModelConfig c = testing::tiny_config();
  c.tied_embeddings = true;
  const LlamaWeights w = testing::random_weights(c, 6);
  const LlamaWeights same = to_device(w, Device::CPU);
  EXPECT_EQ(same.layers[1].down.weight.raw(), w.layers[1].down.weight.raw());
  EXPECT_EQ(same.lm_head.weight.raw(), same.token_embedding.raw());
  testing::expect_same_weights(w, same);
}

}  // namespace
}  // namespace bitfold::model
