// Block-wise streaming against the whole-model forward: pushing every window through one block
// at a time gives the same residual streams, bit for bit; the statistics of a block pass are those
// a hook on the forward sees; the keys and values observed are the cache's; a non-finite
// activation stops calibration naming the layer and site.
#include <gtest/gtest.h>

#include <limits>

#include "calib/block_streams.h"
#include "file_fixtures.h"
#include "random_model.h"
#include "test_support.h"

namespace bitfold::calib {
namespace {

using model::ActivationSite;

CalibrationSet random_set(const model::ModelConfig& c, int windows, int length, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, c.vocab_size - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(windows * length * 2));
  for (auto& t : tokens) t = id(rng);
  return sample_calibration_set(tokens, "random", c, {.samples = windows, .length = length, .seed = seed});
}

// The residual stream after every block (hook at BlockOutput) of a whole forward over a window.
std::vector<Tensor> forward_block_outputs(const model::LlamaWeights& w, const std::vector<int32_t>& window) {
  std::vector<Tensor> outs;
  model::KVCache cache(w.config, int(window.size()));
  model::forward(w, window, 0, cache, model::Logits::None, [&](const model::ActivationPoint& p, Tensor& x) {
    if (p.site == ActivationSite::BlockOutput) outs.push_back(x.clone());
  });
  return outs;
}

TEST(BlockStreams, StreamingBlockByBlockEqualsTheForward) {
  const model::LlamaWeights w = testing::random_model({.layers = 3}, 5);
  const CalibrationSet set = random_set(w.config, 3, 11, 2);
  BlockStreams streams(w, set, /*keep_fp=*/true);
  std::vector<std::vector<Tensor>> expected;
  for (const auto& window : set.windows) expected.push_back(forward_block_outputs(w, window));
  for (int l = 0; l < w.config.n_layers; ++l) {
    ASSERT_EQ(streams.layer(), l);
    std::vector<Tensor> fp, q;
    streams.run(w.layers[size_t(l)], Stream::Fp, {}, &fp);
    streams.run(w.layers[size_t(l)], Stream::Quantized, {}, &q);
    for (size_t win = 0; win < fp.size(); ++win) {
      const Tensor& e = expected[win][size_t(l)];
      for (int64_t i = 0; i < e.numel(); ++i) {
        ASSERT_EQ(fp[win].f32()[i], e.f32()[i]) << "layer " << l << " window " << win;
        ASSERT_EQ(q[win].f32()[i], e.f32()[i]);
      }
    }
    streams.advance(std::move(fp), std::move(q));
  }
  EXPECT_EQ(streams.layer(), w.config.n_layers);
}

TEST(BlockStreams, ObservedStatisticsAreWhatAForwardHookSees) {
  const model::LlamaWeights w = testing::random_model({.layers = 2}, 7);
  const CalibrationSet set = random_set(w.config, 4, 9, 3);
  // The reference: every site's tensors of block 1 over all windows, through model::forward.
  std::map<ActivationSite, ChannelObserver> ref;
  ChannelObserver keys(w.config.kv_dim()), values(w.config.kv_dim());
  for (const auto& window : set.windows) {
    model::KVCache cache(w.config, int(window.size()));
    model::forward(w, window, 0, cache, model::Logits::None, [&](const model::ActivationPoint& p, Tensor& x) {
      if (p.layer != 1) return;
      auto it = ref.try_emplace(p.site, x.dim(1)).first;
      it->second.observe(x.f32(), x.dim(0));
    });
    keys.observe(cache.keys(1).f32(), int64_t(window.size()));
    values.observe(cache.values(1).f32(), int64_t(window.size()));
  }
  BlockStreams streams(w, set, true);
  std::vector<Tensor> fp, q;
  streams.run(w.layers[0], Stream::Fp, {}, &fp);
  q = fp;
  streams.advance(std::move(fp), std::move(q));
  std::vector<Tensor> outputs;
  const BlockStats stats = observe_block(streams, w.layers[1], Stream::Fp, {.kv_cache = true}, &outputs);
  EXPECT_EQ(stats.layer, 1);
  EXPECT_EQ(outputs.size(), set.windows.size());
  for (ActivationSite site : {ActivationSite::BlockInput, ActivationSite::AttnInput, ActivationSite::OProjInput,
                              ActivationSite::MlpInput, ActivationSite::DownProjInput, ActivationSite::BlockOutput}) {
    SCOPED_TRACE(std::string(model::site_name(site)));
    EXPECT_EQ(stats.at(site).min(), ref.at(site).min());
    EXPECT_EQ(stats.at(site).max(), ref.at(site).max());
    EXPECT_EQ(stats.at(site).count(), ref.at(site).count());
  }
  EXPECT_EQ(stats.keys.max(), keys.max());
  EXPECT_EQ(stats.values.min(), values.min());
}

TEST(BlockStreams, NonFiniteActivationNamesLayerAndSite) {
  model::LlamaWeights w = testing::random_model({.layers = 2}, 9);
  // γ₁ of block 1 so large that RMSNorm's output overflows float.
  Tensor gamma = w.layers[1].attn_norm.clone();
  for (int64_t j = 0; j < gamma.numel(); ++j) gamma.f32()[j] = 3e38f;
  gamma.f32()[0] = std::numeric_limits<float>::infinity();
  w.layers[1].attn_norm = gamma;
  const CalibrationSet set = random_set(w.config, 2, 5, 1);
  BlockStreams streams(w, set, true);
  std::vector<Tensor> fp;
  observe_block(streams, w.layers[0], Stream::Fp, {}, &fp);
  std::vector<Tensor> q = fp;
  streams.advance(std::move(fp), std::move(q));
  testing::expect_error([&] { observe_block(streams, w.layers[1], Stream::Fp, {}); },
                        {"calibration", "layer 1 attn_input", "window 0", "non-finite"});
}

TEST(BlockStreams, RelativeMse) {
  const Tensor a = Tensor::from_floats({1, 2, 3}, {1, 3}), b = Tensor::from_floats({1, 2, 4}, {1, 3});
  EXPECT_DOUBLE_EQ(relative_mse({a}, {b}), 1.0 / 21.0);
  EXPECT_EQ(relative_mse({b}, {b}), 0.0);
}

}  // namespace
}  // namespace bitfold::calib
