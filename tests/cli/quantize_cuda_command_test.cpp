// `bitfold quantize --device cuda` (calibration forwards on the GPU) and `bitfold ppl --device
// cuda` of the quantized checkpoint (the CUDA integer engine) against the CPU runs, through the
// built binary on the demo model; without a GPU, the option is a one-line error and writes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>

#include "core/device.h"
#include "run_bitfold.h"

namespace bitfold::cli {
namespace {

namespace fs = std::filesystem;
using testing::Outcome;
using testing::run_bitfold;

double reported_ppl(const std::string& out) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(ppl ([0-9.]+) \(mean NLL)"))) return NAN;
  return std::stod(m[1].str());
}

const std::string kModel = testing::repo_path("models/pyshakes-15m-hf").string();
const std::string kQuantize = "quantize " + kModel +
                              " --method rtn --w 4 --a 4 --act static-channel --kv 8 --calib " +
                              testing::repo_path("data/demo/calib.txt").string() +
                              " --calib-samples 4 --calib-len 128 --threads 1";

TEST(QuantizeCommand, CudaCalibrationAndCudaPplMatchTheCpu) {
  BITFOLD_REQUIRE_CUDA();
  const auto dir = testing::scratch_dir("cli_quantize_cuda");
  const Outcome qc = run_bitfold(kQuantize + " -o " + (dir / "cpu").string(), dir);
  ASSERT_EQ(qc.code, 0) << qc.err;
  const Outcome qg = run_bitfold(kQuantize + " --device cuda -o " + (dir / "gpu").string(), dir);
  ASSERT_EQ(qg.code, 0) << qg.err;
  EXPECT_NE(qg.out.find("forwards on NVIDIA"), std::string::npos) << qg.out;

  const std::string text = " --text " + testing::repo_path("data/demo/eval.txt").string() +
                           " --ctx 256 --threads 1";
  double ppl[2][2];  // [calibrated on][evaluated on]
  const char* devices[2] = {"cpu", "cuda"};
  for (int c = 0; c < 2; ++c)
    for (int e = 0; e < 2; ++e) {
      const Outcome r = run_bitfold("ppl " + (dir / (c == 0 ? "cpu" : "gpu")).string() + text +
                                    " --device " + devices[e],
                                dir);
      ASSERT_EQ(r.code, 0) << r.err;
      ppl[c][e] = reported_ppl(r.out);
      ASSERT_TRUE(std::isfinite(ppl[c][e])) << r.out;
      std::cout << "[ cuda     ] W4A4 calibrated on " << devices[c] << ", ppl on " << devices[e]
                << ": " << ppl[c][e] << "\n";
    }
  // The engine: one checkpoint gives the CPU's perplexity on the GPU up to code flips: float
  // rounding of the unquantized ops moves rare activations across a 4-bit code boundary, and a
  // moved code perturbs everything downstream (H200 run of 2026-11-25: 61.6027 vs 61.5908, 2e-4).
  EXPECT_LT(std::abs(ppl[0][1] - ppl[0][0]), 1e-3 * ppl[0][0]);
  // Calibration: steps from GPU statistics equal the CPU's to ~1e-6 (methods.CudaCalibration);
  // W4A4 perplexity is that sensitive to them (same run: 61.5388 vs 61.6027, 1.0e-3).
  EXPECT_LT(std::abs(ppl[1][0] - ppl[0][0]), 3e-3 * ppl[0][0]);
}

TEST(QuantizeCommand, CudaDeviceWithoutAGpuIsOneLineAndWritesNothing) {
  if (cuda_available()) GTEST_SKIP() << "about a machine without a GPU";
  const auto dir = testing::scratch_dir("cli_quantize_no_cuda");
  const Outcome r = run_bitfold(kQuantize + " --device cuda -o " + (dir / "out").string(), dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(r.err.starts_with("bitfold: error: --device cuda: ")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

}  // namespace
}  // namespace bitfold::cli
