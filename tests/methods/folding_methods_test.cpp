// OS+, OutlierTune and MergeQuant through the quantization pipeline (methods/pipeline.h) on small
// models (GQA and MQA, with and without biases): their transforms alone leave the model exact;
// quantized at static W4A4, no activation quantizer scales (every step folded: rounding only) —
// asserted on the model and on its checkpoint, which reloads to the same logits; the baselines
// that do scale (RTN's consumer-side steps, OutlierTune's released per-token o/down) are caught by
// the same check; hyperparameter errors are one line.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "calib/calibration_set.h"
#include "core/parallel.h"
#include "methods/folding_method.h"
#include "methods/pipeline.h"
#include "model/loader.h"
#include "model/quantized_checkpoint.h"
#include "quant/recipe.h"
#include "random_model.h"
#include "test_support.h"

namespace bitfold::methods {
namespace {

using nlohmann::json;

class SingleThreaded : public ::testing::Environment {
 public:
  void SetUp() override { set_num_threads(1); }
};
const auto* const kSingleThreaded = ::testing::AddGlobalTestEnvironment(new SingleThreaded);

model::LlamaWeights test_model(const std::string& name) {
  if (name == "tiny_gqa") return model::load_weights(bitfold::testing::repo_path("tests/data/golden/tiny-gqa"));
  if (name == "stories260K")
    return model::load_weights(bitfold::testing::repo_path("models/stories260K/stories260K.bin"));
  // MQA with q/k/v/o biases, untied.
  return bitfold::testing::random_model({"mqa_bias", 36, 50, 2, 3, 1, 12, 41, false, true, 64}, 8);
}

calib::CalibrationSet random_calibration(const model::ModelConfig& c, int windows, int length,
                                         uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(3, c.vocab_size - 1);
  std::vector<int32_t> tokens(size_t(windows * length + 1));
  for (auto& t : tokens) t = id(rng);
  return calib::sample_calibration_set(tokens, "random tokens", c,
                                       {.samples = windows, .length = length, .seed = seed});
}

quant::Recipe recipe(const std::string& method, int bits, nlohmann::json hyperparameters = {}) {
  quant::RecipeFlags f;
  f.method = method;
  f.weights = f.activations = std::to_string(bits);
  f.act = "static-channel";
  quant::Recipe r = quant::recipe_from_flags(f);
  if (hyperparameters.is_object()) r.hyperparameters = hyperparameters;
  return r;
}

Tensor logits(const model::LlamaWeights& w, const std::vector<int32_t>& tokens) {
  model::KVCache cache(w.config, int(tokens.size()));
  return model::forward(w, tokens, 0, cache, model::Logits::All);
}

double rel_error(const Tensor& a, const Tensor& ref) {
  double err = 0, scale = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    err = std::max(err, std::abs(double(a.f32()[i]) - double(ref.f32()[i])));
    scale = std::max(scale, std::abs(double(ref.f32()[i])));
  }
  return err / scale;
}

struct Case {
  const char* method;
  nlohmann::json hyperparameters;
};

// Small searches keep the suite fast; every stage (splits, both losses, low rank) still runs.
// The empty objects are each method's defaults (what bitfold quantize and tools/results run).
const Case kCases[] = {
    {"osplus", json::object()},
    {"mergequant", json::object()},
    {"osplus", {{"candidates", 8}, {"sample_tokens", 256}}},
    {"osplus", {{"candidates", 6}, {"qkv_loss", "linear"}, {"shift", false}, {"sample_tokens", 256}}},
    {"outliertune", {{"variant", "static"}}},
    {"mergequant",
     {{"split_budget", 0.1}, {"split_percentile", 0.8}, {"clip_ratios", {1.0, 0.8, 0.6}},
      {"weight_clip_ratios", {1.0, 0.9}}, {"low_rank", 2}, {"sample_tokens", 256}}},
    {"mergequant", {{"shift", true}, {"clip_ratios", {1.0, 0.7}}, {"weight_clip_ratios", json::array()},
                    {"sample_tokens", 256}}},
};

class FoldingMethods : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(FoldingMethods, TransformsAloneAreExact) {
  const auto [model_name, case_index] = GetParam();
  const Case& k = kCases[case_index];
  const model::LlamaWeights w = test_model(model_name);
  const calib::CalibrationSet set = random_calibration(w.config, 4, 24, 3);
  QuantizeOptions options;
  options.progress = false;
  options.transform_only = true;
  const QuantizedModel t = quantize_model(w, recipe(k.method, 4, k.hyperparameters), set, options);
  const std::vector<int32_t> tokens = set.windows[1];
  EXPECT_LE(rel_error(logits(t.weights, tokens), logits(w, tokens)), 1e-5)
      << model_name << " " << k.method << " " << k.hyperparameters.dump();
  // ... and they did something: every site's activations are on their grid (|x| ≤ qmax/clip).
  bool changed = false;
  for (size_t l = 0; l < w.layers.size(); ++l)
    changed = changed || t.weights.layers[l].attn_norm.f32()[0] != w.layers[l].attn_norm.f32()[0];
  EXPECT_TRUE(changed) << "the transform left the norms alone";
}

TEST_P(FoldingMethods, StaticW4A4HasNoScalingOutsideTheFoldedWeights) {
  const auto [model_name, case_index] = GetParam();
  const Case& k = kCases[case_index];
  const model::LlamaWeights w = test_model(model_name);
  const calib::CalibrationSet set = random_calibration(w.config, 4, 24, 4);
  QuantizeOptions options;
  options.progress = false;
  const quant::Recipe r = recipe(k.method, 4, k.hyperparameters);
  const QuantizedModel q = quantize_model(w, r, set, options);
  EXPECT_EQ(unfolded_scaling(q.weights), std::vector<std::string>{})
      << model_name << " " << k.method;
  // The quantized model is a usable model: finite logits, not wildly off the FP ones.
  const std::vector<int32_t> tokens = set.windows[0];
  const Tensor lq = logits(q.weights, tokens), lf = logits(w, tokens);
  for (int64_t i = 0; i < lq.numel(); ++i) ASSERT_TRUE(std::isfinite(lq.f32()[i]));
  EXPECT_LT(rel_error(lq, lf), 1.0) << model_name << " " << k.method;

  // The checkpoint holds the same model: folds, splits, low-rank paths included.
  const auto dir = bitfold::testing::scratch_dir(fmt::format("folding_{}_{}", model_name, case_index)) / "q";
  model::QuantizedCheckpointInfo info;
  info.recipe = quant::recipe_to_json(r);
  model::write_quantized_checkpoint(q.weights, dir, info);
  const model::LlamaWeights back = model::load_weights(dir);
  EXPECT_EQ(unfolded_scaling(back), std::vector<std::string>{});
  if (k.hyperparameters.contains("split_budget")) {  // the splits and side paths came back
    bool split = false, low_rank = false;
    for (const model::LayerWeights& b : back.layers) {
      split = split || b.attn_norm_channels.defined() || b.ffn_norm_channels.defined() ||
              b.gate.out_features() > w.config.hidden_dim;
      low_rank = low_rank || b.down.low_rank_a.defined();
    }
    EXPECT_TRUE(split);
    EXPECT_TRUE(low_rank);
  }
  const Tensor lb = logits(back, tokens);
  for (int64_t i = 0; i < lq.numel(); ++i) ASSERT_EQ(lb.f32()[i], lq.f32()[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(
    Models, FoldingMethods,
    ::testing::Combine(::testing::Values("tiny_gqa", "stories260K", "mqa_bias"),
                       ::testing::Range(0, int(std::size(kCases)))),
    [](const auto& param_info) {
      return std::get<0>(param_info.param) + "_" + kCases[std::get<1>(param_info.param)].method +
             std::to_string(std::get<1>(param_info.param));
    });

TEST(FoldingMethods, TheCheckCatchesRuntimeScaling) {
  const model::LlamaWeights w = test_model("tiny_gqa");
  const calib::CalibrationSet set = random_calibration(w.config, 2, 16, 5);
  QuantizeOptions options;
  options.progress = false;
  // RTN divides by its steps in the consumer; OutlierTune's released form is per token at o/down.
  const auto rtn = unfolded_scaling(quantize_model(w, recipe("rtn", 4), set, options).weights);
  ASSERT_EQ(rtn.size(), size_t(7 * w.config.n_layers));
  EXPECT_NE(rtn[0].find("static steps ≠ 1"), std::string::npos) << rtn[0];
  const auto ot = unfolded_scaling(quantize_model(w, recipe("outliertune", 4), set, options).weights);
  ASSERT_EQ(ot.size(), size_t(2 * w.config.n_layers));  // o_proj and down_proj of each block
  EXPECT_NE(ot[0].find("self_attn.o_proj: int4 dynamic token activations"), std::string::npos) << ot[0];
  EXPECT_NE(ot[1].find("mlp.down_proj"), std::string::npos) << ot[1];
}

std::string error_of(const quant::Recipe& r) {
  const model::LlamaWeights w = test_model("tiny_gqa");
  try {
    check_recipe(w, r);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(FoldingMethods, HyperparameterErrorsAreOneLine) {
  const std::pair<json, const char*> bad[] = {
      {{{"candidates", "many"}}, "hyperparameters.candidates: expected an integer, got \"many\""},
      {{{"shift", 1}}, "hyperparameters.shift: expected true, false or \"auto\", got 1"},
      {{{"qkv_loss", "kl"}}, "hyperparameters.qkv_loss: 'kl' is not one of attention, linear"},
      {{{"alpha", 0.5}}, "unknown hyperparameter 'alpha' for osplus"},
  };
  for (const auto& [h, message] : bad) {
    const std::string e = error_of(recipe("osplus", 4, h));
    EXPECT_NE(e.find(message), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
  EXPECT_NE(error_of(recipe("outliertune", 4, {{"variant", "dynamic"}}))
                .find("variant: 'dynamic' is not one of faithful, static"),
            std::string::npos);
  EXPECT_NE(error_of(recipe("mergequant", 4, {{"clip_ratios", {1.0, 1.5}}})).find("1.5 is not a ratio"),
            std::string::npos);
  EXPECT_NE(error_of(recipe("mergequant", 4, {{"low_rank", -1}})).find("low_rank: -1 outside"),
            std::string::npos);
}

}  // namespace
}  // namespace bitfold::methods
