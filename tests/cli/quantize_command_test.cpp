// `bitfold quantize` end to end through the built binary on the bundled demo model: a checkpoint
// that `bitfold ppl` and `bitfold generate` load, the per-layer summary, and bad recipes refused
// with one line and exit code 1 before any output appears.
#include <gtest/gtest.h>

#include <algorithm>

#include "run_bitfold.h"

namespace bitfold::cli {
namespace {

namespace fs = std::filesystem;
using testing::Outcome;
using testing::run_bitfold;

const std::string kModel = testing::repo_path("models/pyshakes-15m-hf").string();
const std::string kCalib = testing::repo_path("data/demo/calib.txt").string();
const std::string kSmallCalib = " --calib " + kCalib + " --calib-samples 4 --calib-len 64 --threads 1";

TEST(QuantizeCommand, WritesACheckpointThatPplAndGenerateLoad) {
  const auto dir = testing::scratch_dir("cli_quantize");
  const std::string out = (dir / "w8a8").string();
  const Outcome q = run_bitfold("quantize " + kModel + " --method smoothquant --alpha 0.6 --w 8 --a 8 "
                            "--act static-tensor" + kSmallCalib + " -o " + out, dir);
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_NE(q.out.find("calibration: 4 windows x 64 tokens"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("| model.layers.5.mlp.down_proj | int8 static channel | int8 static tensor |"),
            std::string::npos) << q.out;
  EXPECT_NE(q.out.find("| model.layers.0 output (vs FP stream) |"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("method smoothquant"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("wrote " + out), std::string::npos) << q.out;
  EXPECT_TRUE(q.err.empty()) << q.err;  // no progress bar when stderr is not a terminal
  EXPECT_TRUE(fs::exists(fs::path(out) / "tokenizer.model"));

  testing::write_bytes(dir / "text.txt", testing::read_bytes(testing::repo_path("data/demo/eval.txt")).substr(0, 3000));
  const Outcome p = run_bitfold("ppl " + out + " --text " + (dir / "text.txt").string() + " --ctx 64 --threads 1", dir);
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("ppl "), std::string::npos) << p.out;
  const Outcome g = run_bitfold("generate " + out + " -p ROMEO: -n 12 --temperature 0 --threads 1", dir);
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_TRUE(g.out.starts_with("ROMEO:")) << g.out;
  EXPECT_GT(g.out.size(), 12u);

  // Quantizing a quantized checkpoint is refused.
  const Outcome again = run_bitfold("quantize " + out + kSmallCalib + " -o " + (dir / "again").string(), dir);
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("already a quantized checkpoint"), std::string::npos) << again.err;
}

TEST(QuantizeCommand, ARecipeFileOverridesTheFlags) {
  const auto dir = testing::scratch_dir("cli_quantize_recipe");
  testing::write_bytes(dir / "w4.json", R"({"method": "rtn", "weights": {"format": "int4", "granularity": "group", "group": 32}})");
  const Outcome q = run_bitfold("quantize " + kModel + " --recipe " + (dir / "w4.json").string() + " --w 8" +
                            kSmallCalib + " -o " + (dir / "out").string(), dir);
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_NE(q.err.find("--w ignored"), std::string::npos) << q.err;
  EXPECT_NE(q.out.find("| int4 static group 32 | fp16 |"), std::string::npos) << q.out;
}

TEST(QuantizeCommand, BadRecipesAreOneLineErrorsAndWriteNothing) {
  const auto dir = testing::scratch_dir("cli_quantize_bad");
  testing::write_bytes(dir / "bad.json", R"({"method": "rtn", "weights": {"bits": 12}})");
  fs::create_directories(dir / "mine");
  testing::write_bytes(dir / "mine" / "keep.txt", "keep");
  const std::string out = " -o " + (dir / "out").string();
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {"--method fancy", "unknown method 'fancy'"},
           {"--method llmfp4", "method 'llmfp4' is not implemented yet"},
           {"--w 9", "bits 9 outside 2..8"},
           {"--a 1", "bits 1 outside 2..8"},
           {"--w e5m3", "e5m3"},
           {"--group 100", "group size 100 does not divide K = 288"},
           {"--act per-row", "unknown granularity 'per-row'"},
           {"--method rtn --alpha 0.5", "unknown hyperparameter 'alpha' for rtn"},
           {"--recipe " + (dir / "bad.json").string(), "bits 12 outside 2..8"},
           {"--calib-samples 0", "samples must be at least 1"},
       }) {
    const std::string calib = c.args.starts_with("--calib-samples") ? " --calib " + kCalib : kSmallCalib;
    const Outcome r = run_bitfold("quantize " + kModel + " " + c.args + calib + out, dir);
    EXPECT_EQ(r.code, 1) << c.args << "\n" << r.err;
    EXPECT_TRUE(r.err.starts_with("bitfold: error: ")) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
  }
  const Outcome mine = run_bitfold("quantize " + kModel + kSmallCalib + " -o " + (dir / "mine").string(), dir);
  EXPECT_EQ(mine.code, 1);
  EXPECT_NE(mine.err.find("not a quantized checkpoint"), std::string::npos) << mine.err;
  std::vector<std::string> expected = {"bad.json", "mine", "stderr", "stdout"};
  EXPECT_EQ(testing::entries(dir), expected);  // no output directory, no temporary
}

}  // namespace
}  // namespace bitfold::cli
