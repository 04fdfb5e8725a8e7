// `bitfold generate` and `bitfold ppl` end to end, through the built binary, on stories260K.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>

#include "run_bitfold.h"

namespace bitfold::cli {
namespace {

namespace fs = std::filesystem;
using testing::Outcome;
using testing::run_bitfold;

const fs::path kStories = testing::repo_path("models/stories260K/stories260K.bin");

TEST(GenerateCommand, GreedyPrintsTheTextThenTheSpeed) {
  const auto dir = testing::scratch_dir("cli_generate");
  const Outcome r = run_bitfold("generate " + kStories.string() + " -n 40 --temperature 0 --threads 1", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string golden = testing::read_bytes(testing::repo_path("models/stories260K/greedy-200.txt"));
  ASSERT_GT(r.out.size(), 100u);
  EXPECT_EQ(r.out.substr(0, r.out.size() - 1), golden.substr(0, r.out.size() - 1));
  EXPECT_NE(r.err.find("prefill: 1 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("decode: 39 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
}

TEST(GenerateCommand, SeedReproducesAndPromptIsEchoed) {
  const auto dir = testing::scratch_dir("cli_generate_seed");
  const std::string args = "generate " + kStories.string() +
                           " -p \"Once upon a time\" -n 30 --temperature 1 --top-p 0.9 --seed 7";
  const Outcome a = run_bitfold(args, dir), b = run_bitfold(args, dir);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_TRUE(a.out.starts_with("Once upon a time")) << a.out;
  EXPECT_NE(a.err.find("seed 7"), std::string::npos) << a.err;
  const Outcome bad = run_bitfold("generate " + kStories.string() + " --top-p 0", dir);
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(bad.err.starts_with("bitfold: error: top-p")) << bad.err;
}

TEST(PplCommand, PrintsPerplexityWindowsAndSpeed) {
  const auto dir = testing::scratch_dir("cli_ppl");
  const fs::path text = testing::repo_path("models/stories260K/greedy-200.txt");
  const Outcome r = run_bitfold("ppl " + kStories.string() + " --text " + text.string() + " --ctx 64", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  // 200 greedy tokens re-encoded: 3 windows of 64; the model finds its own text very likely.
  EXPECT_NE(r.out.find("ctx 64, 3 windows, 189 scored tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ppl "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;  // no progress bar when stderr is not a terminal
}

TEST(PplCommand, BadInputIsOneLineAndExitCodeOne) {
  const auto dir = testing::scratch_dir("cli_ppl_bad");
  testing::write_bytes(dir / "empty.txt", "");
  testing::write_bytes(dir / "short.txt", "Once upon a time");
  const std::string model = kStories.string();
  for (const std::string& args :
       {"ppl " + model + " --text " + (dir / "empty.txt").string(),
        "ppl " + model + " --text " + (dir / "short.txt").string(),
        "ppl " + model + " --text " + (dir / "short.txt").string() + " --ctx 1",
        "ppl " + model + " --text " + (dir / "short.txt").string() + " --ctx 4096",
        "ppl " + model + " --text " + (dir / "missing.txt").string()}) {
    const Outcome r = run_bitfold(args, dir);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
    EXPECT_TRUE(r.err.starts_with("bitfold: error: ")) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\n" << r.err;
  }
  EXPECT_NE(run_bitfold("ppl " + model, dir).code, 0);  // --text is required
}

// The number after "ppl " in the command's report.
double reported_ppl(const std::string& out) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(ppl ([0-9.]+) \(mean NLL)"))) return NAN;
  return std::stod(m[1].str());
}

TEST(PplCommand, CudaDeviceGivesTheCpuPerplexity) {
  BITFOLD_REQUIRE_CUDA();
  const auto dir = testing::scratch_dir("cli_ppl_cuda");
  const std::string args = "ppl " + testing::repo_path("models/pyshakes-15m-hf").string() +
                           " --text " + testing::repo_path("data/demo/eval.txt").string() +
                           " --ctx 256";
  const Outcome cpu = run_bitfold(args, dir);
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  const Outcome gpu = run_bitfold(args + " --device cuda", dir);
  ASSERT_EQ(gpu.code, 0) << gpu.err;
  const double a = reported_ppl(cpu.out), b = reported_ppl(gpu.out);
  ASSERT_TRUE(std::isfinite(a) && std::isfinite(b)) << cpu.out << gpu.out;
  EXPECT_LT(std::abs(a - b), 1e-5 * a) << "cpu " << a << ", cuda " << b;  // 5 significant digits
  EXPECT_NE(gpu.out.find("NVIDIA"), std::string::npos) << gpu.out;    // the GPU is named
}

TEST(GenerateCommand, CudaDeviceGreedyMatchesTheCpuText) {
  BITFOLD_REQUIRE_CUDA();
  const auto dir = testing::scratch_dir("cli_generate_cuda");
  const Outcome r = run_bitfold("generate " + kStories.string() + " -n 40 --temperature 0 --device cuda", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string golden = testing::read_bytes(testing::repo_path("models/stories260K/greedy-200.txt"));
  ASSERT_GT(r.out.size(), 100u);
  EXPECT_EQ(r.out.substr(0, r.out.size() - 1), golden.substr(0, r.out.size() - 1));
}

TEST(PplCommand, DeviceOptionIsCheckedOnOneLine) {
  const auto dir = testing::scratch_dir("cli_device_option");
  const std::string model = kStories.string();
  const std::string text = testing::repo_path("models/stories260K/greedy-200.txt").string();
  EXPECT_NE(run_bitfold("ppl " + model + " --text " + text + " --device tpu", dir).code, 0);
  if (cuda_available()) return;  // the rest is about a machine without a GPU
  for (const std::string& args : {"ppl " + model + " --text " + text + " --device cuda",
                                  "generate " + model + " -n 3 --device cuda"}) {
    const Outcome r = run_bitfold(args, dir);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
    EXPECT_TRUE(r.err.starts_with("bitfold: error: --device cuda: ")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace bitfold::cli
