// Logits of the F32 forward against Hugging Face transformers' on the same weights and tokens:
// tests/data/golden/ is written once by tools/golden/make_golden.py (see its docstring); each
// model's file holds the token ids, the reference logits at every position (all columns, or a
// fixed subset plus each position's top 8 for 32k vocabularies), and the argmax and log-sum-exp
// over the whole vocabulary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "io/safetensors.h"
#include "model/llama.h"
#include "model/loader.h"
#include "test_support.h"

namespace bitfold::model {
namespace {

constexpr double kMaxRelativeError = 1e-4;  // max |ours − ref| / max |ref|, per model

std::filesystem::path golden_dir() { return testing::repo_path("tests/data/golden"); }

class Golden : public ::testing::TestWithParam<const char*> {};

TEST_P(Golden, LogitsMatchTransformers) {
  const std::string name = GetParam();
  const auto manifest_path = golden_dir() / "manifest.json";
  if (!std::filesystem::exists(manifest_path))
    GTEST_SKIP() << "golden logits absent: run tools/golden/make_golden.py once (needs torch + "
                    "transformers) and commit tests/data/golden/";
  const nlohmann::json manifest = nlohmann::json::parse(std::ifstream(manifest_path));
  if (!manifest["models"].contains(name))
    GTEST_SKIP() << name << " is not in " << manifest_path.string()
                 << " (make_golden.py reported a failure for it)";
  const auto& entry = manifest["models"][name];

  // The model as the script read it: a path relative to the repository; the random checkpoints
  // beside the golden files (a run with --out elsewhere recorded where it wrote them); the shared
  // copy of stories260K.
  const std::filesystem::path recorded = entry["model"].get<std::string>();
  std::filesystem::path model_path = testing::repo_path(recorded.relative_path().string());
  if (!std::filesystem::exists(model_path) && std::filesystem::exists(golden_dir() / recorded.filename()))
    model_path = golden_dir() / recorded.filename();
  if (!std::filesystem::exists(model_path) && name == "stories260K")
    model_path = testing::shared_data("models/stories260K/stories260K.bin");
  BITFOLD_REQUIRE_SHARED(model_path);
  const LlamaWeights w = load_weights(model_path);
  if (entry.contains("rope_theta")) {  // transformers 5 writes it under rope_parameters
    ASSERT_EQ(w.config.rope_theta, entry["rope_theta"].get<float>())
        << model_path.string() << ": the loader read rope_theta " << w.config.rope_theta
        << " but the checkpoint was made with " << entry["rope_theta"].get<float>();
  }

  const io::SafetensorsFile golden =
      io::SafetensorsFile::open(golden_dir() / entry["logits_file"].get<std::string>());
  const Tensor tokens_t = golden.tensor("tokens"), columns_t = golden.tensor("columns");
  const Tensor ref = golden.tensor("logits"), argmax_t = golden.tensor("argmax"),
               lse_t = golden.tensor("logsumexp");
  const std::vector<int32_t> tokens(tokens_t.data<int32_t>(),
                                    tokens_t.data<int32_t>() + tokens_t.numel());
  const int64_t T = int64_t(tokens.size()), C = columns_t.numel(), V = w.config.vocab_size;
  ASSERT_EQ(ref.shape(), (Shape{T, C}));
  const int32_t* columns = columns_t.data<int32_t>();

  KVCache cache(w.config, int(T));
  const Tensor ours = forward(w, tokens, 0, cache, Logits::All);
  ASSERT_EQ(ours.shape(), (Shape{T, V}));

  double err = 0, scale = 0;
  int argmax_agree = 0, near_ties = 0;
  for (int64_t t = 0; t < T; ++t) {
    const float* o = ours.f32() + t * V;
    const float* r = ref.f32() + t * C;
    for (int64_t c = 0; c < C; ++c) {
      err = std::max(err, std::abs(double(o[columns[c]]) - double(r[c])));
      scale = std::max(scale, std::abs(double(r[c])));
    }
    // Argmax over the whole vocabulary, unless the reference's top two are closer than the
    // tolerance (then either answer is right). The top 8 of each position are stored columns.
    const int32_t ours_argmax = int32_t(std::max_element(o, o + V) - o);
    std::vector<float> sorted(r, r + C);
    std::partial_sort(sorted.begin(), sorted.begin() + std::min<int64_t>(2, C), sorted.end(),
                      std::greater<>());
    const bool near_tie = C > 1 && double(sorted[0] - sorted[1]) <= kMaxRelativeError * scale;
    if (ours_argmax == argmax_t.data<int32_t>()[t]) {
      ++argmax_agree;
    } else {
      EXPECT_TRUE(near_tie) << name << ": argmax differs at position " << t << ": ours "
                            << ours_argmax << ", transformers " << argmax_t.data<int32_t>()[t];
    }
    near_ties += near_tie;
    // Log-sum-exp over the whole vocabulary: catches errors in the columns not stored.
    double m = o[0], z = 0;
    for (int64_t j = 1; j < V; ++j) m = std::max(m, double(o[j]));
    for (int64_t j = 0; j < V; ++j) z += std::exp(double(o[j]) - m);
    const double lse = m + std::log(z), ref_lse = lse_t.data<double>()[t];
    EXPECT_LE(std::abs(lse - ref_lse), kMaxRelativeError * std::max(1.0, std::abs(ref_lse)))
        << name << ": log-sum-exp at position " << t;
  }
  const double rel = err / scale;
  EXPECT_LE(rel, kMaxRelativeError) << name;
  RecordProperty("max_relative_error", std::to_string(rel));
  std::cout << "[ golden   ] " << name << ": max |ours - transformers| / max |transformers| = "
            << rel << " over " << T << " positions x " << C << " columns; argmax agrees at "
            << argmax_agree << "/" << T << " (" << near_ties << " near-ties)\n";
}

INSTANTIATE_TEST_SUITE_P(Model, Golden,
                         ::testing::Values("pyshakes-15m-hf", "stories260K", "tiny-gqa",
                                           "tiny-tied"),
                         [](const auto& param_info) {
                           std::string s = param_info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

}  // namespace
}  // namespace bitfold::model
