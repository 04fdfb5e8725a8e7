// `bitfold inspect`'s computation (methods/range_report.h): activation ranges against an
// independent hook pass and float64 maxima; weight-column ranges against a float64 loop; the
// "after" ranges are those of the model the method's transforms produce (after OutlierTune's QSM
// every site sits on its int4 grid, after MergeQuant's splits the norm sites are wider); the
// table has a row per (layer, site); the SVG is well-formed XML with one panel per (layer, site).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <regex>

#include "calib/calibration_set.h"
#include "core/parallel.h"
#include "methods/pipeline.h"
#include "methods/range_report.h"
#include "methods/site_observation.h"
#include "model/llama.h"
#include "quant/recipe.h"
#include "random_model.h"

namespace bitfold::methods {
namespace {

calib::CalibrationSet random_calibration(const model::ModelConfig& c, int windows, int length,
                                         uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(3, c.vocab_size - 1);
  std::vector<int32_t> tokens(size_t(windows * length + 1));
  for (auto& t : tokens) t = id(rng);
  return calib::sample_calibration_set(tokens, "random tokens", c,
                                       {.samples = windows, .length = length, .seed = seed});
}

quant::Recipe w4a4(const std::string& method, nlohmann::json hyperparameters) {
  quant::RecipeFlags f;
  f.method = method;
  f.weights = f.activations = "4";
  f.act = "static-channel";
  quant::Recipe r = quant::recipe_from_flags(f);
  r.hyperparameters = std::move(hyperparameters);
  return r;
}

// GQA (2 query heads per KV head), odd widths.
model::LlamaWeights gqa_model() {
  return bitfold::testing::random_model({"gqa_odd", 30, 46, 3, 4, 2, 6, 37, false, false, 64}, 11);
}

// Every hooked tensor of the four linear-input sites, kept whole; maxima in double afterwards.
std::vector<std::array<std::vector<double>, 4>> independent_absmax(
    const model::LlamaWeights& w, const calib::CalibrationSet& set) {
  std::vector<std::array<std::vector<Tensor>, 4>> kept(w.layers.size());
  const model::ActivationHook hook = [&](const model::ActivationPoint& p, Tensor& x) {
    for (size_t s = 0; s < kFoldSites.size(); ++s)
      if (p.site == kFoldSites[s]) kept[size_t(p.layer)][s].push_back(x.clone());
  };
  for (const auto& win : set.windows) {
    model::KVCache cache(w.config, int(win.size()));
    model::forward(w, win, 0, cache, model::Logits::None, hook);
  }
  std::vector<std::array<std::vector<double>, 4>> out(w.layers.size());
  for (size_t l = 0; l < kept.size(); ++l)
    for (size_t s = 0; s < 4; ++s)
      for (const Tensor& x : kept[l][s]) {
        const int64_t T = x.dim(0), K = x.dim(1);
        std::vector<double>& a = out[l][s];
        a.resize(size_t(K), 0.0);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t j = 0; j < K; ++j)
            a[size_t(j)] = std::max(a[size_t(j)], std::fabs(double(x.f32()[t * K + j])));
      }
  return out;
}

void expect_equal_ranges(const ModelRanges& got,
                         const std::vector<std::array<std::vector<double>, 4>>& want) {
  ASSERT_EQ(got.layers.size(), want.size());
  for (size_t l = 0; l < want.size(); ++l)
    for (size_t s = 0; s < 4; ++s) {
      ASSERT_EQ(got.layers[l][s].size(), want[l][s].size()) << "layer " << l << " site " << s;
      for (size_t j = 0; j < want[l][s].size(); ++j) {
        ASSERT_GT(want[l][s][j], 0.0);
        EXPECT_EQ(double(got.layers[l][s][j]), want[l][s][j]) << "layer " << l << " site " << s << " channel " << j;
      }
    }
}

TEST(RangeReport, ActivationRangesMatchAnIndependentHookPass) {
  set_num_threads(1);
  const model::LlamaWeights w = gqa_model();
  const calib::CalibrationSet set = random_calibration(w.config, 3, 17, 2);
  const RangeInspection r = inspect_ranges(w, &set, nullptr);
  ASSERT_TRUE(r.activations_before);
  EXPECT_FALSE(r.activations_after);
  EXPECT_FALSE(r.weights_after);
  expect_equal_ranges(*r.activations_before, independent_absmax(w, set));
  // Site widths: dim, q_dim, dim, hidden.
  EXPECT_EQ(r.activations_before->layers[0][1].size(), size_t(w.config.q_dim()));
  EXPECT_EQ(r.activations_before->layers[0][3].size(), size_t(w.config.hidden_dim));
}

// mean_i |W_ij| / max_k |W_ik| over the rows of the site's consumers, in double.
void expect_weight_columns(const ModelRanges& r, const model::LlamaWeights& w) {
  ASSERT_EQ(r.layers.size(), w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const model::LayerWeights& b = w.layers[l];
    const std::array<std::vector<const Tensor*>, 4> consumers = {
        std::vector<const Tensor*>{&b.q.weight, &b.k.weight, &b.v.weight},
        {&b.o.weight}, {&b.gate.weight, &b.up.weight}, {&b.down.weight}};
    for (size_t s = 0; s < 4; ++s) {
      const int64_t K = consumers[s][0]->dim(1);
      ASSERT_EQ(int64_t(r.layers[l][s].size()), K);
      std::vector<double> want(size_t(K), 0.0);
      int64_t rows = 0;
      for (const Tensor* t : consumers[s])
        for (int64_t i = 0; i < t->dim(0); ++i, ++rows) {
          double row_max = 0;
          for (int64_t j = 0; j < K; ++j) row_max = std::max(row_max, std::fabs(double(t->f32()[i * K + j])));
          for (int64_t j = 0; j < K; ++j) want[size_t(j)] += std::fabs(double(t->f32()[i * K + j])) / row_max;
        }
      for (double& v : want) v /= double(rows);
      for (int64_t j = 0; j < K; ++j)
        EXPECT_NEAR(r.layers[l][s][size_t(j)], want[size_t(j)], 1e-6 * want[size_t(j)]) << l << " " << s << " " << j;
    }
  }
}

TEST(RangeReport, WeightColumnRangesAreColumnMeansOverEachRowsMaximum) {
  const model::LlamaWeights w = gqa_model();
  expect_weight_columns(weight_column_ranges(w), w);
  // Row scales do not change them.
  model::LlamaWeights scaled = w;
  Tensor v = w.layers[0].v.weight.clone();
  for (int64_t i = 0; i < v.numel(); ++i) v.f32()[i] *= float(1 + i / v.dim(1));
  scaled.layers[0].v.weight = v;
  const std::vector<float> a = weight_column_ranges(scaled).layers[0][0],
                           b = weight_column_ranges(w).layers[0][0];
  ASSERT_EQ(a.size(), b.size());
  for (size_t j = 0; j < a.size(); ++j) EXPECT_NEAR(a[j], b[j], 1e-6f) << j;
}

TEST(RangeReport, AfterRangesAreWhatTheTransformedModelProduces) {
  set_num_threads(1);
  const model::LlamaWeights w = gqa_model();
  const calib::CalibrationSet set = random_calibration(w.config, 3, 17, 4);
  // OutlierTune, fully static, no shift, no clip: Δ_j = max|x_j| / 7 folded into every producer.
  const quant::Recipe ot = w4a4("outliertune", {{"variant", "static"}, {"symmetrize", false},
                                                {"window_clip", 1.0}});
  const RangeInspection r = inspect_ranges(w, &set, &ot);
  ASSERT_TRUE(r.activations_after && r.weights_after);
  QuantizeOptions options;
  options.progress = false;
  options.transform_only = true;
  options.measure_errors = false;
  const QuantizedModel t = quantize_model(w, ot, set, options);
  expect_equal_ranges(*r.activations_after, independent_absmax(t.weights, set));
  expect_weight_columns(*r.weights_after, t.weights);
  for (size_t l = 0; l < w.layers.size(); ++l)
    for (size_t s = 0; s < 4; ++s) {
      const std::vector<float>& a = r.activations_after->layers[l][s];
      const float top = *std::max_element(a.begin(), a.end());
      EXPECT_NEAR(top, 7.0f, 7e-5f) << "layer " << l << " site " << s;
      if (s != 1) {  // o_proj's input: one step per KV group, so only the group's widest is at 7
        for (float v : a) EXPECT_NEAR(v, 7.0f, 7e-5f) << "layer " << l << " site " << s;
      }
      // And the weight columns are those of the folded model: W·diag(Δ), each row over its max.
      EXPECT_NE(r.weights_after->layers[l][s], r.weights_before.layers[l][s]);
    }

  // MergeQuant's dimensional reconstruction adds channels at the norm sites and down_proj.
  const quant::Recipe mq = w4a4("mergequant", {{"split_budget", 0.2}, {"split_percentile", 0.5},
                                               {"sample_tokens", 32}});
  const RangeInspection m = inspect_ranges(w, &set, &mq);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    EXPECT_GT(m.activations_after->layers[l][0].size(), m.activations_before->layers[l][0].size());
    EXPECT_EQ(m.activations_after->layers[l][1].size(), m.activations_before->layers[l][1].size());
    EXPECT_EQ(m.weights_after->layers[l][0].size(), m.activations_after->layers[l][0].size());
  }
}

TEST(RangeReport, MethodsNeedCalibration) {
  const model::LlamaWeights w = gqa_model();
  const quant::Recipe mq = w4a4("mergequant", nlohmann::json::object());
  try {
    inspect_ranges(w, nullptr, &mq);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("need a calibration text"), std::string::npos) << e.what();
  }
}

TEST(RangeReport, TableHasARowPerLayerAndSite) {
  ModelRanges before, after;
  before.layers = {{std::vector<float>{1, 2, 8}, {1, 1}, {3, 3, 3}, {0.5f, 4, 1, 1}}};
  after.layers = {{std::vector<float>{1, 2, 2, 4}, {1, 1}, {3, 3, 3}, {1, 1, 1, 1}}};
  const std::string t = range_table(before, &after);
  EXPECT_EQ(std::count(t.begin(), t.end(), '\n'), 2 + 4);
  // attn_input: 3 channels, max 8 (channel 2), median 2 → 4; after: 4 channels, max 4 (index 3),
  // median (upper) 2 → 2.
  EXPECT_NE(t.find("| 0 | attn_input | 3 | 8 | 2 | 4 | 2 | 4 | 4 | 2 | 2 | 3 |"), std::string::npos) << t;
  EXPECT_NE(t.find("| 0 | down_proj_input | 4 | 4 | 1 | 4 | 1 |"), std::string::npos) << t;
  const std::string alone = range_table(before, nullptr);
  EXPECT_EQ(alone.find("after"), std::string::npos);
}

// A minimal XML well-formedness check: balanced tags, quoted attributes, known entities only.
void expect_well_formed_xml(const std::string& xml) {
  std::vector<std::string> open;
  size_t i = 0;
  const std::regex attr(R"(^\s*[A-Za-z_:][-A-Za-z0-9_:.]*="[^"<]*")");
  while (i < xml.size()) {
    if (xml[i] == '&') {
      const size_t semi = xml.find(';', i);
      ASSERT_NE(semi, std::string::npos);
      const std::string ent = xml.substr(i, semi - i + 1);
      EXPECT_TRUE(ent == "&amp;" || ent == "&lt;" || ent == "&gt;" || ent == "&quot;") << ent;
      i = semi + 1;
      continue;
    }
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    const size_t close = xml.find('>', i);
    ASSERT_NE(close, std::string::npos) << "unclosed tag at " << i;
    std::string tag = xml.substr(i + 1, close - i - 1);
    i = close + 1;
    if (tag.starts_with("/")) {
      ASSERT_FALSE(open.empty()) << "stray </" << tag << ">";
      EXPECT_EQ(open.back(), tag.substr(1));
      open.pop_back();
      continue;
    }
    const bool empty = tag.ends_with("/");
    if (empty) tag.pop_back();
    const size_t name_end = std::min(tag.find_first_of(" \n"), tag.size());
    const std::string name = tag.substr(0, name_end);
    ASSERT_TRUE(std::regex_match(name, std::regex("[A-Za-z][A-Za-z0-9]*"))) << name;
    std::string rest = tag.substr(name_end);
    std::smatch m;
    while (std::regex_search(rest, m, attr)) rest = m.suffix();
    EXPECT_TRUE(std::all_of(rest.begin(), rest.end(), [](char c) { return std::isspace(uint8_t(c)); }))
        << "bad attributes in <" << tag << ">";
    if (!empty) open.push_back(name);
  }
  EXPECT_TRUE(open.empty()) << open.size() << " unclosed elements";
}

TEST(RangeReport, SvgIsWellFormedWithAPanelPerLayerAndSite) {
  set_num_threads(1);
  const model::LlamaWeights w = gqa_model();
  const calib::CalibrationSet set = random_calibration(w.config, 2, 9, 6);
  const quant::Recipe mq = w4a4("mergequant", {{"sample_tokens", 16}});
  const RangeInspection r = inspect_ranges(w, &set, &mq);
  const std::string svg = range_svg(*r.activations_before, &*r.activations_after, "a <title> & more");
  expect_well_formed_xml(svg);
  EXPECT_TRUE(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_NE(svg.find("a &lt;title&gt; &amp; more"), std::string::npos);
  const auto count = [&](const std::string& needle) {
    int64_t n = 0;
    for (size_t p = svg.find(needle); p != std::string::npos; p = svg.find(needle, p + 1)) ++n;
    return n;
  };
  const int64_t panels = int64_t(w.layers.size()) * 4;
  EXPECT_EQ(count("<polyline"), 2 * panels);  // before and after in every panel
  EXPECT_EQ(count("stroke=\"#ccc\""), panels);  // the panel frames
  EXPECT_EQ(count("layer 2 down_proj_input: max/median"), 1);
  // Every point inside the drawing.
  const std::regex size_re("width=\"(\\d+)\" height=\"(\\d+)\"");
  std::smatch sm;
  ASSERT_TRUE(std::regex_search(svg, sm, size_re));
  const double width = std::stod(sm[1]), height = std::stod(sm[2]);
  const std::regex point("(-?[0-9.]+),(-?[0-9.]+) ");
  int64_t points = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), point); it != std::sregex_iterator(); ++it) {
    const double x = std::stod((*it)[1]), y = std::stod((*it)[2]);
    EXPECT_TRUE(x >= 0 && x <= width && y >= 0 && y <= height) << x << "," << y;
    ++points;
  }
  EXPECT_GT(points, panels);  // real series, not empty polylines
}

}  // namespace
}  // namespace bitfold::methods
