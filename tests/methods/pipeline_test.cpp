// The shared pipeline with the two baseline methods: transforms exact in FP before quantization
// (random GQA / tied models, the golden checkpoints, the demo model); static steps equal to the
// calibration ranges recomputed here through model::forward hooks; the quantized stream equal to
// the quantized model's forward; SmoothQuant's factors from the paper's formula; sequential
// statistics; KV-cache and lm_head quantization; recipe errors before any work.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "calib/block_streams.h"
#include "core/parallel.h"
#include "eval/perplexity.h"
#include "file_fixtures.h"
#include "methods/pipeline.h"
#include "model/llama.h"
#include "model/loader.h"
#include "random_model.h"
#include "test_support.h"
#include "text/tokenizer.h"

namespace bitfold::methods {
namespace {

using model::ActivationSite;
using nlohmann::json;

calib::CalibrationSet random_set(const model::ModelConfig& c, int windows, int length, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(3, c.vocab_size - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(windows * length * 4));
  for (auto& t : tokens) t = id(rng);
  return calib::sample_calibration_set(tokens, "random", c, {.samples = windows, .length = length, .seed = seed});
}

quant::Recipe recipe(const std::string& json_text) { return quant::parse_recipe(json_text, "test.json"); }

QuantizeOptions quiet() {
  QuantizeOptions o;
  o.progress = false;
  return o;
}

Tensor logits(const model::LlamaWeights& w, const std::vector<int32_t>& tokens) {
  model::KVCache cache(w.config, int(tokens.size()));
  return model::forward(w, tokens, 0, cache, model::Logits::All);
}

// max |a − b| / max |b|.
double relative_error(const Tensor& a, const Tensor& b) {
  double diff = 0, ref = 0;
  for (int64_t e = 0; e < a.numel(); ++e) {
    diff = std::max(diff, std::fabs(double(a.f32()[e]) - double(b.f32()[e])));
    ref = std::max(ref, std::fabs(double(b.f32()[e])));
  }
  return diff / ref;
}

// Per (layer, site): channel absmax over every window of the set, through model::forward hooks.
std::map<std::pair<int, ActivationSite>, std::vector<float>> site_absmax(const model::LlamaWeights& w,
                                                                         const calib::CalibrationSet& set) {
  std::map<std::pair<int, ActivationSite>, std::vector<float>> m;
  for (const auto& window : set.windows) {
    model::KVCache cache(w.config, int(window.size()));
    model::forward(w, window, 0, cache, model::Logits::None, [&](const model::ActivationPoint& p, Tensor& x) {
      auto& a = m[{p.layer, p.site}];
      a.resize(size_t(x.dim(1)), 0.0f);
      for (int64_t t = 0; t < x.dim(0); ++t)
        for (int64_t j = 0; j < x.dim(1); ++j) a[size_t(j)] = std::max(a[size_t(j)], std::fabs(x.f32()[t * x.dim(1) + j]));
    });
  }
  return m;
}

// One thread: an accuracy test, robust on a busy machine (an OpenMP region waits for every one of
// its threads).
class OneThread {
 public:
  OneThread() : saved_(num_threads()) { set_num_threads(1); }
  ~OneThread() { set_num_threads(saved_); }

 private:
  int saved_;
};

const char* kW8A8Channel = R"({"method": "rtn", "weights": {"format": "int8"},
                               "activations": {"format": "int8", "granularity": "static-channel"}})";

// ---- exactness of the transforms ----------------------------------------------------------------

void expect_transform_exact(const model::LlamaWeights& w, const calib::CalibrationSet& set,
                            const std::string& method_json) {
  QuantizeOptions o = quiet();
  o.transform_only = true;
  const QuantizedModel t = quantize_model(w, recipe(method_json), set, o);
  for (const model::LayerWeights& b : t.weights.layers)
    for (const model::Linear* l : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) ASSERT_FALSE(l->quantized);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 24; ++i) tokens.push_back(3 + (i * 7) % (w.config.vocab_size - 3));
  EXPECT_LE(relative_error(logits(t.weights, tokens), logits(w, tokens)), 1e-5) << method_json;
}

const char* kSmoothW8A8 = R"({"method": "smoothquant", "hyperparameters": {"alpha": 0.5},
                              "weights": {"format": "int8"}, "activations": {"format": "int8", "granularity": "static-tensor"}})";
const char* kSmoothW4A4 = R"({"method": "smoothquant", "hyperparameters": {"alpha": 0.85},
                              "weights": {"format": "int4"}, "activations": {"format": "int4", "granularity": "dynamic-token"}})";

TEST(Transforms, ExactInFpOnRandomModels) {
  for (const testing::RandomModelSpec& spec :
       {testing::RandomModelSpec{.name = "gqa"}, testing::RandomModelSpec{.name = "tied_mha", .heads = 4, .kv_heads = 4, .tied = true},
        testing::RandomModelSpec{.name = "bias", .bias = true}}) {
    SCOPED_TRACE(spec.name);
    const model::LlamaWeights w = testing::random_model(spec, 21);
    const calib::CalibrationSet set = random_set(w.config, 3, 16, 4);
    expect_transform_exact(w, set, kW8A8Channel);
    expect_transform_exact(w, set, kSmoothW8A8);
    expect_transform_exact(w, set, kSmoothW4A4);
  }
}

TEST(Transforms, ExactInFpOnTheGoldenCheckpointsAndTheDemoModel) {
  const OneThread one;
  for (const char* path : {"tests/data/golden/tiny-gqa", "tests/data/golden/tiny-tied", "models/pyshakes-15m-hf"}) {
    SCOPED_TRACE(path);
    const model::LlamaWeights w = model::load_weights(testing::repo_path(path));
    const calib::CalibrationSet set = random_set(w.config, 2, 32, 5);
    expect_transform_exact(w, set, kW8A8Channel);
    expect_transform_exact(w, set, kSmoothW8A8);
    expect_transform_exact(w, set, kSmoothW4A4);
  }
}

// ---- what the pipeline computes ---------------------------------------------------------------

TEST(Pipeline, StaticChannelStepsAreTheCalibrationRanges) {
  const model::LlamaWeights w = testing::random_model({.layers = 2}, 8);
  const calib::CalibrationSet set = random_set(w.config, 4, 12, 6);
  const QuantizedModel q = quantize_model(w, recipe(kW8A8Channel), set, quiet());
  const auto absmax = site_absmax(w, set);  // FP statistics: the default (non-sequential)
  for (int l = 0; l < w.config.n_layers; ++l) {
    const model::LayerWeights& b = q.weights.layers[size_t(l)];
    const std::pair<const model::Linear*, ActivationSite> linears[] = {
        {&b.q, ActivationSite::AttnInput}, {&b.v, ActivationSite::AttnInput}, {&b.o, ActivationSite::OProjInput},
        {&b.up, ActivationSite::MlpInput}, {&b.down, ActivationSite::DownProjInput}};
    for (const auto& [linear, site] : linears) {
      ASSERT_TRUE(linear->quantized);
      const quant::QuantParams& in = linear->quantized->input();
      const std::vector<float>& a = absmax.at({l, site});
      ASSERT_EQ(in.scale.size(), a.size());
      for (size_t j = 0; j < a.size(); ++j) EXPECT_EQ(in.scale[j], float(double(a[j]) / 127.0)) << l << " " << j;
      // Pre-execution: the codes dequantize to W·diag(Δa) within half a weight step.
      const quant::QuantizedLinear& ql = *linear->quantized;
      const int64_t K = ql.in_features();
      for (int64_t i = 0; i < ql.out_features(); ++i)
        for (int64_t j = 0; j < K; ++j) {
          const double w_prime = double(linear->weight.f32()[i * K + j]) * in.scale[size_t(j)];
          const double back = double(ql.weight_params().step(i, j)) * ql.weight_codes().data<int8_t>()[i * K + j];
          EXPECT_LE(std::fabs(back - w_prime), 0.5 * ql.weight_params().step(i, j) * (1 + 1e-6));
        }
    }
  }
}

TEST(Pipeline, QuantizedStreamIsTheQuantizedModelsForward) {
  const model::LlamaWeights w = testing::random_model({.layers = 3}, 9);
  const calib::CalibrationSet set = random_set(w.config, 3, 10, 7);
  const QuantizedModel q = quantize_model(w, recipe(R"({"method": "rtn", "weights": {"format": "int4"},
      "activations": {"format": "int4", "granularity": "static-channel"}})"), set, quiet());
  ASSERT_EQ(q.report.blocks.size(), 3u);
  ASSERT_EQ(q.report.linears.size(), 21u);
  EXPECT_EQ(q.report.linears[3].name, "model.layers.0.self_attn.o_proj");
  // Block outputs of the quantized and the FP model over the calibration windows.
  for (int l = 0; l < 3; ++l) {
    std::vector<Tensor> qs, fs;
    for (const auto& window : set.windows) {
      for (auto [model, out] : {std::pair{&q.weights, &qs}, std::pair{&w, &fs}}) {
        model::KVCache cache(w.config, int(window.size()));
        model::forward(*model, window, 0, cache, model::Logits::None, [&](const model::ActivationPoint& p, Tensor& x) {
          if (p.site == ActivationSite::BlockOutput && p.layer == l) out->push_back(x.clone());
        });
      }
    }
    const double expected = calib::relative_mse(qs, fs);
    EXPECT_GT(expected, 0.0);
    EXPECT_NEAR(q.report.blocks[size_t(l)].output_rel_mse, expected, 1e-12 * expected) << l;
  }
  for (const LinearReport& r : q.report.linears) {
    EXPECT_GT(r.output_rel_mse, 0.0) << r.name;
    EXPECT_LT(r.output_rel_mse, 0.5) << r.name;
    EXPECT_EQ(r.weights, "int4 static channel");
    EXPECT_GT(r.before.max, 0.0f);
    EXPECT_EQ(r.before.max, r.after.max);  // RTN transforms nothing
  }
}

TEST(Pipeline, SequentialStatisticsComeFromTheQuantizedUpstream) {
  const model::LlamaWeights w = testing::random_model({.layers = 2}, 10);
  const calib::CalibrationSet set = random_set(w.config, 3, 10, 8);
  const std::string r = R"({"method": "rtn", "hyperparameters": {"sequential": true}, "weights": {"format": "int4"},
                            "activations": {"format": "int4", "granularity": "static-channel"}})";
  const QuantizedModel q = quantize_model(w, recipe(r), set, quiet());
  // Block 1's q/k/v input depends only on block 0 (quantized) and γ₁ (RTN keeps it).
  const auto absmax = site_absmax(q.weights, set).at({1, ActivationSite::AttnInput});
  const auto fp_absmax = site_absmax(w, set).at({1, ActivationSite::AttnInput});
  const quant::QuantParams& in = q.weights.layers[1].k.quantized->input();
  bool differs_from_fp = false;
  for (size_t j = 0; j < absmax.size(); ++j) {
    EXPECT_EQ(in.scale[j], float(double(absmax[j]) / 7.0));
    differs_from_fp = differs_from_fp || absmax[j] != fp_absmax[j];
  }
  EXPECT_TRUE(differs_from_fp);
  EXPECT_GT(q.report.blocks[1].output_rel_mse, 0.0);  // the FP stream is still kept
}

TEST(Pipeline, SmoothQuantFactorsFollowThePaper) {
  const model::LlamaWeights w = testing::random_model({.layers = 1}, 11);
  const calib::CalibrationSet set = random_set(w.config, 3, 12, 9);
  const double alpha = 0.7;
  const QuantizedModel q = quantize_model(w, recipe(R"({"method": "smoothquant", "hyperparameters": {"alpha": 0.7},
      "weights": {"format": "int8"}, "activations": {"format": "int8", "granularity": "static-tensor"}})"), set, quiet());
  const auto absmax = site_absmax(w, set);
  const model::LayerWeights& b = w.layers[0];
  const model::LayerWeights& t = q.weights.layers[0];
  struct Site { ActivationSite site; const Tensor* gamma; const Tensor* new_gamma; std::vector<const model::Linear*> consumers; };
  for (const Site& s : {Site{ActivationSite::AttnInput, &b.attn_norm, &t.attn_norm, {&b.q, &b.k, &b.v}},
                        Site{ActivationSite::MlpInput, &b.ffn_norm, &t.ffn_norm, {&b.gate, &b.up}}}) {
    const std::vector<float>& a = absmax.at({0, s.site});
    double smoothed_max = 0;
    for (size_t j = 0; j < a.size(); ++j) {
      float wmax = 0;
      for (const model::Linear* l : s.consumers)
        for (int64_t i = 0; i < l->weight.dim(0); ++i) wmax = std::max(wmax, std::fabs(l->weight.f32()[i * l->weight.dim(1) + int64_t(j)]));
      const float sj = float(std::pow(double(std::max(a[j], 1e-5f)), alpha) / std::pow(double(std::max(wmax, 1e-5f)), 1 - alpha));
      EXPECT_EQ(s.new_gamma->f32()[j], s.gamma->f32()[j] / sj) << j;
      smoothed_max = std::max(smoothed_max, double(a[j] / sj));
    }
    // The static per-tensor step is fitted on the smoothed ranges.
    const model::Linear& consumer = s.site == ActivationSite::AttnInput ? t.q : t.up;
    EXPECT_EQ(consumer.quantized->input().scale[0], float(smoothed_max / 127.0));
  }
  // o_proj and down_proj are not smoothed.
  EXPECT_EQ(t.o.weight.raw(), b.o.weight.raw());
}

TEST(Pipeline, KvCacheStepsArePerHeadRangesOfTheCachedKeysAndValues) {
  const model::LlamaWeights w = testing::random_model({.layers = 2}, 12);
  const calib::CalibrationSet set = random_set(w.config, 2, 10, 10);
  const QuantizedModel q = quantize_model(w, recipe(R"({"method": "rtn", "weights": {"format": "int8"},
      "kv_cache": {"format": "int8", "granularity": "static-head"}})"), set, quiet());
  const model::ModelConfig& c = w.config;
  for (int l = 0; l < c.n_layers; ++l) {
    std::vector<float> head_max(size_t(c.n_kv_heads), 0.0f);
    for (const auto& window : set.windows) {
      model::KVCache cache(c, int(window.size()));
      model::forward(w, window, 0, cache, model::Logits::None);  // statistics: the FP stream
      for (int64_t t = 0; t < int64_t(window.size()); ++t)
        for (int64_t j = 0; j < c.kv_dim(); ++j)
          head_max[size_t(j / c.head_dim)] = std::max(head_max[size_t(j / c.head_dim)], std::fabs(cache.keys(l).f32()[t * c.kv_dim() + j]));
    }
    ASSERT_TRUE(q.weights.layers[size_t(l)].kv_quant) << l;
    const quant::QuantParams& k = q.weights.layers[size_t(l)].kv_quant->key;
    ASSERT_EQ(k.scale.size(), size_t(c.n_kv_heads));
    for (int h = 0; h < c.n_kv_heads; ++h) EXPECT_EQ(k.scale[size_t(h)], float(double(head_max[size_t(h)]) / 127.0)) << l;
  }
}

TEST(Pipeline, LmHeadOnlyWhenAsked) {
  const model::LlamaWeights w = testing::random_model({.tied = true}, 13);
  const calib::CalibrationSet set = random_set(w.config, 2, 8, 11);
  const std::string base = R"("weights": {"format": "int8"}, "activations": {"format": "int8", "granularity": "dynamic-token"})";
  const QuantizedModel a = quantize_model(w, recipe(R"({"method": "rtn", )" + base + "}"), set, quiet());
  EXPECT_FALSE(a.weights.lm_head.quantized);
  const QuantizedModel b = quantize_model(
      w, recipe(R"({"method": "rtn", "hyperparameters": {"quantize_lm_head": true}, )" + base + "}"), set, quiet());
  ASSERT_TRUE(b.weights.lm_head.quantized);
  EXPECT_EQ(b.report.linears.back().name, "lm_head");
  EXPECT_EQ(b.weights.token_embedding.raw(), w.token_embedding.raw());  // the embedding stays as it was
}

TEST(Pipeline, RecipeErrorsComeBeforeAnyWork) {
  const model::LlamaWeights w = testing::random_model({}, 14);  // dim 32, hidden 48
  const auto check = [&](const std::string& r) { check_recipe(w, recipe(r)); };
  testing::expect_error([&] { check(R"({"method": "llmfp4", "weights": {"format": "int8"}})"); },
                        {"test.json", "method 'llmfp4' is not implemented yet",
                         "available: rtn, smoothquant, osplus, outliertune, mergequant"});
  testing::expect_error([&] { check(R"({"method": "rtn", "hyperparameters": {"alpha": 0.5}, "weights": {"format": "int8"}})"); },
                        {"test.json.hyperparameters", "unknown hyperparameter 'alpha' for rtn"});
  testing::expect_error([&] { check(R"({"method": "smoothquant", "hyperparameters": {"alpha": 1.5}, "weights": {"format": "int8"}})"); },
                        {"alpha", "1.5 outside [0, 1]"});
  testing::expect_error([&] { check(R"({"method": "rtn", "hyperparameters": {"sequential": 1}})"); },
                        {"sequential", "expected true or false"});
  testing::expect_error([&] { check(R"({"method": "rtn", "activations": {"format": "int8"}})"); },
                        {"model.layers.0.self_attn.q_proj", "need quantized weights"});
  testing::expect_error([&] { check(R"({"method": "rtn", "weights": {"format": "int4", "granularity": "group", "group": 32}})"); },
                        {"model.layers.0.mlp.down_proj", "group size 32 does not divide K = 48"});
}

// ---- the acceptance point: W8A8 RTN on the demo model ---------------------------------------------

TEST(DemoModel, W8A8StaticChannelRtnPerplexityWithinOnePercentOfFp32) {
  const OneThread one;
  const std::filesystem::path model_dir = testing::repo_path("models/pyshakes-15m-hf");
  const model::LlamaWeights w = model::load_weights(model_dir);
  const auto tokenizer = text::find_tokenizer(model_dir);
  const calib::CalibrationSet set = calib::load_calibration_set(testing::repo_path("data/demo/calib.txt"), *tokenizer,
                                                                w.config, {.samples = 16, .length = 256, .seed = 0});
  const QuantizedModel q = quantize_model(w, recipe(kW8A8Channel), set, quiet());
  // The first 24 KB of the bundled eval text (the whole file is what `make demo` reports).
  const auto dir = testing::scratch_dir("demo_w8a8");
  const std::string eval = testing::read_bytes(testing::repo_path("data/demo/eval.txt")).substr(0, 24000);
  testing::write_bytes(dir / "eval.txt", eval);
  const double fp = eval::perplexity(w, *tokenizer, dir / "eval.txt", {.progress = false}).ppl;
  const double qp = eval::perplexity(q.weights, *tokenizer, dir / "eval.txt", {.progress = false}).ppl;
  EXPECT_LT(std::fabs(qp / fp - 1.0), 0.01) << "FP32 " << fp << ", W8A8 " << qp;
  EXPECT_NE(qp, fp);
}

}  // namespace
}  // namespace bitfold::methods
