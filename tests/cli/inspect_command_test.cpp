// `bitfold inspect` end to end through the built binary on the bundled demo model: the report
// folder (table + two SVGs) with before / after a method, weight columns alone without a text,
// and user errors as one line with exit code 1, nothing written.
#include <gtest/gtest.h>

#include <algorithm>

#include "cli/run_bitfold.h"

namespace bitfold::cli {
namespace {

namespace fs = std::filesystem;
using testing::Outcome;
using testing::run_bitfold;

const std::string kModel = testing::repo_path("models/pyshakes-15m-hf").string();
const std::string kSmallCalib = " --calib " + testing::repo_path("data/demo/calib.txt").string() +
                                " --calib-samples 2 --calib-len 32";

TEST(InspectCommand, WritesTheReportBeforeAndAfterAMethod) {
  const auto dir = testing::scratch_dir("cli_inspect");
  const std::string out = (dir / "report").string();
  const Outcome r = run_bitfold("inspect " + kModel + kSmallCalib +
                                    " --method mergequant --w 4 --a 4 --param sample_tokens=32 --threads 1 -o " + out,
                                dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("## Activations"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("## Weight columns"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("before / after mergequant (W4 A4 static-channel, sample_tokens=32)"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| 5 | down_proj_input | 768 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + out), std::string::npos) << r.out;
  std::vector<std::string> files = {"activations.svg", "ranges.md", "weights.svg"};
  EXPECT_EQ(testing::entries(out), files);
  const std::string md = testing::read_bytes(fs::path(out) / "ranges.md");
  EXPECT_TRUE(r.out.starts_with(md)) << md;  // the file is what was printed
  const std::string svg = testing::read_bytes(fs::path(out) / "activations.svg");
  EXPECT_TRUE(svg.starts_with("<svg ")) << svg.substr(0, 100);
  EXPECT_TRUE(svg.ends_with("</svg>\n"));
  EXPECT_NE(svg.find("layer 5 down_proj_input"), std::string::npos);

  // The same folder again: an earlier report is replaced.
  const Outcome again = run_bitfold("inspect " + kModel + " -o " + out + " --threads 1", dir);
  ASSERT_EQ(again.code, 0) << again.err;
  files = {"ranges.md", "weights.svg"};  // weight columns only: no text, no activations
  EXPECT_EQ(testing::entries(out), files);
  EXPECT_EQ(again.out.find("## Activations"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("## Weight columns"), std::string::npos) << again.out;
}

TEST(InspectCommand, UserErrorsAreOneLineAndWriteNothing) {
  const auto dir = testing::scratch_dir("cli_inspect_bad");
  fs::create_directories(dir / "mine");
  testing::write_bytes(dir / "mine" / "keep.txt", "keep");
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {kModel + " --method mergequant", "--method mergequant needs --calib FILE"},
           {kModel + kSmallCalib + " --method fancy", "unknown method 'fancy'"},
           {kModel + kSmallCalib + " --method mergequant --param split_budget=-1", "split_budget"},
           {kModel + kSmallCalib + " --method osplus --param nope=1", "unknown hyperparameter 'nope'"},
           {kModel + kSmallCalib + " --method rtn --w 9", "bits 9 outside 2..8"},
           {kModel + kSmallCalib + " --method mergequant --param x", "--param x: expected KEY=VALUE"},
           {kModel + " -o " + (dir / "mine").string(), "holds keep.txt"},
           {kModel + " -o " + (dir / "no" / "such").string(), "does not exist"},
           {(dir / "missing").string(), "missing"},
           {kModel + " --calib " + (dir / "missing.txt").string(), "missing.txt"},
       }) {
    const Outcome r = run_bitfold("inspect " + c.args + " --threads 1", dir);
    EXPECT_EQ(r.code, 1) << c.args << "\n" << r.err;
    EXPECT_TRUE(r.err.starts_with("bitfold: error: ")) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
  }
  std::vector<std::string> expected = {"keep.txt"};
  EXPECT_EQ(testing::entries(dir / "mine"), expected);
  expected = {"mine", "stderr", "stdout"};
  EXPECT_EQ(testing::entries(dir), expected);
}

}  // namespace
}  // namespace bitfold::cli
