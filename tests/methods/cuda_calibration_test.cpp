// Calibration on the GPU (QuantizeOptions::device = CUDA: every block forward of the pipeline and
// of the method on the CUDA backend, statistics gathered by the CPU observers on host copies)
// against the CPU run on the demo model: the static activation steps, the KV-cache steps and the
// weight steps agree to 1e-5 relative — the forwards differ only in float rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "calib/calibration_set.h"
#include "core/parallel.h"
#include "methods/pipeline.h"
#include "model/loader.h"
#include "quant/recipe.h"
#include "test_support.h"
#include "text/tokenizer.h"

namespace bitfold::methods {
namespace {

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - b[i]) / std::max(std::abs(double(b[i])), 1e-30));
  return worst;
}

TEST(CudaCalibration, DemoModelStepsAgreeWithTheCpu) {
  BITFOLD_REQUIRE_CUDA();
  set_num_threads(1);
  const auto dir = bitfold::testing::repo_path("models/pyshakes-15m-hf");
  const model::LlamaWeights w = model::load_weights(dir);
  const auto tok = text::find_tokenizer(dir);
  const calib::CalibrationSet set = calib::load_calibration_set(
      bitfold::testing::repo_path("data/demo/calib.txt"), *tok, w.config,
      {.samples = 4, .length = 128, .seed = 0});
  for (const char* method : {"rtn", "smoothquant"}) {
    SCOPED_TRACE(method);
    quant::RecipeFlags f;
    f.method = method;
    f.weights = f.activations = "4";
    f.act = "static-channel";
    f.kv = "8";
    const quant::Recipe recipe = quant::recipe_from_flags(f);
    QuantizeOptions options;
    options.progress = false;
    const QuantizedModel cpu = quantize_model(w, recipe, set, options);
    options.device = Device::CUDA;
    const QuantizedModel gpu = quantize_model(w, recipe, set, options);

    double input = 0, weight = 0, kv = 0;
    for (size_t l = 0; l < w.layers.size(); ++l) {
      const model::LayerWeights& a = gpu.weights.layers[l];
      const model::LayerWeights& b = cpu.weights.layers[l];
      const model::Linear* la[] = {&a.q, &a.k, &a.v, &a.o, &a.gate, &a.up, &a.down};
      const model::Linear* lb[] = {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down};
      for (int i = 0; i < 7; ++i) {
        ASSERT_TRUE(la[i]->quantized && lb[i]->quantized);
        EXPECT_EQ(la[i]->quantized->device(), Device::CPU);  // the result lives on the host
        input = std::max(input, max_rel(la[i]->quantized->input().scale, lb[i]->quantized->input().scale));
        weight = std::max(weight, max_rel(la[i]->quantized->weight_params().scale,
                                          lb[i]->quantized->weight_params().scale));
      }
      ASSERT_TRUE(a.kv_quant && b.kv_quant);
      kv = std::max({kv, max_rel(a.kv_quant->key.scale, b.kv_quant->key.scale),
                     max_rel(a.kv_quant->value.scale, b.kv_quant->value.scale)});
    }
    std::cout << "[ cuda     ] " << method << ": max rel diff of steps CUDA vs CPU: activations "
              << input << ", weights " << weight << ", KV " << kv << "\n";
    EXPECT_LT(input, 1e-5);
    EXPECT_LT(weight, 1e-5);
    EXPECT_LT(kv, 1e-5);
    // The reports cover the same layers. (Their errors are not compared: steps 1e-6 apart move
    // some W4 codes across a boundary, which changes a layer's error by up to a few percent.)
    ASSERT_EQ(gpu.report.linears.size(), cpu.report.linears.size());
    for (size_t i = 0; i < cpu.report.linears.size(); ++i) {
      EXPECT_EQ(gpu.report.linears[i].name, cpu.report.linears[i].name);
      EXPECT_GT(gpu.report.linears[i].output_rel_mse, 0);
    }
  }
}

}  // namespace
}  // namespace bitfold::methods
