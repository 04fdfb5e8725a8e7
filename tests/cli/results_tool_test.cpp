// tools/results (the Python driver of the results table): the commands it runs per row, the
// per-row cache, and the markdown it renders from results.json. Skips without python3.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "run_bitfold.h"

namespace bitfold::cli {
namespace {

namespace fs = std::filesystem;

bool have_python() { return std::system("command -v python3 >/dev/null 2>&1") == 0; }

testing::Outcome run_tool(const std::string& args, const fs::path& dir) {
  const std::string command = "python3 " + testing::repo_path("tools/results").string() + " " +
                              args + " >" + (dir / "stdout").string() + " 2>" +
                              (dir / "stderr").string() + " </dev/null";
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, testing::read_bytes(dir / "stdout"),
          testing::read_bytes(dir / "stderr")};
}

std::string common_args(const fs::path& dir) {
  return "--shared /data --out " + dir.string() + " --work " + (dir / "work").string();
}

TEST(ResultsTool, DryRunShowsQuantizePplWithKlAndEval) {
  if (!have_python()) GTEST_SKIP() << "python3 not installed";
  const auto dir = testing::scratch_dir("results_dry");
  const testing::Outcome r =
      run_tool("--dry-run --only 'pyshakes-15m-hf/RTN static/W8A8' --limit 7 --max-windows 3 " +
                   common_args(dir), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string model = testing::repo_path("models/pyshakes-15m-hf").string();
  for (const std::string& part : std::vector<std::string>{
           "bitfold quantize " + model + " --calib /data/text/train.txt -o ",
        "--method rtn --w 8 --a 8 --act static-channel",
        "bitfold ppl " + (dir / "work").string(), "--text /data/text/test.txt",
        "--text /data/text/wikitext-2-raw/wiki.test.raw", "--max-windows 3",
        "--kl-base " + model, "bitfold eval ", "--limit 7", "--data /data/tasks"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
  EXPECT_EQ(r.out.find("FP32"), std::string::npos) << r.out;  // --only selected one row
  EXPECT_FALSE(fs::exists(dir / "results.json"));
  EXPECT_FALSE(fs::exists(dir / "results.md"));
}

TEST(ResultsTool, JobsRunRowsSideBySideInTheirOwnFolders) {
  if (!have_python()) GTEST_SKIP() << "python3 not installed";
  const auto dir = testing::scratch_dir("results_jobs");
  const testing::Outcome r = run_tool(
      "--dry-run --jobs 2 --only 'pyshakes-15m-hf/RTN static/W[84]A[84]$' " + common_args(dir), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const std::string& part : std::vector<std::string>{
           "--method rtn --w 8 --a 8 --act static-channel", "--method rtn --w 4 --a 4 --act static-channel",
           (dir / "work" / "pyshakes-15m-hf-RTN-static-W8A8" / "model").string(),
           (dir / "work" / "pyshakes-15m-hf-RTN-static-W4A4" / "model").string(),
           "pyshakes-15m-hf/RTN static/W8A8: done", "pyshakes-15m-hf/RTN static/W4A4: done"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
}

// A results.json as the tool writes it, with synthetic numbers (a rendering fixture, not results).
nlohmann::json fixture(int limit) {
  const nlohmann::json settings = {{"max_windows", 32}, {"task_limit", limit}, {"task_seed", 1234},
      {"tasks", {"hellaswag", "piqa", "arc_easy", "arc_challenge", "winogrande", "boolq", "lambada"}},
      {"ppl_texts", {"test.txt", "WikiText-2"}}, {"calibration_text", "{shared}/text/train.txt"}};
  const auto ppl = [](double v, bool kl) {
    nlohmann::json p = {{"ppl", v}, {"scored_tokens", 16352}, {"windows", 32}, {"total_windows", 296}, {"ctx", 512}};
    if (kl) p["kl"] = {{"mean", 0.01234}};
    return p;
  };
  const auto zero_shot = [](double acc) {
    nlohmann::json t = nlohmann::json::object();
    for (const char* name : {"hellaswag", "piqa", "arc_easy", "arc_challenge"})
      t[name] = {{"acc", acc}, {"acc_norm", acc + 0.01}, {"chance", 0.25}, {"items", 250}, {"total_items", 1000}};
    t["winogrande"] = {{"acc", acc}, {"chance", 0.5}, {"items", 250}, {"total_items", 1267}};
    t["boolq"] = {{"acc", acc}, {"chance", 0.5}, {"items", 250}, {"total_items", 3270}};
    t["lambada"] = {{"acc", 0.0}, {"ppl", 12345.0}, {"chance", nullptr}, {"items", 250}, {"total_items", 5153}};
    return nlohmann::json{{"tasks", t}, {"average", {{"tasks", 6}, {"acc", acc}, {"chance", 1.75 / 6}}}};
  };
  nlohmann::json rows = {
      {"pyshakes-15m-hf/FP32/—", {{"model", "pyshakes-15m-hf"}, {"method", "FP32"}, {"format", "—"},
          {"flags", nullptr}, {"settings", settings}, {"ppl", {{"test.txt", ppl(27.5, false)}, {"WikiText-2", ppl(8405.0, false)}}},
          {"zero_shot", zero_shot(0.3)}}},
      {"pyshakes-15m-hf/RTN static/W8A8", {{"model", "pyshakes-15m-hf"}, {"method", "RTN static"}, {"format", "W8A8"},
          {"flags", "--method rtn"}, {"settings", settings}, {"calibration_seconds", 12.4},
          {"ppl", {{"test.txt", ppl(27.9, true)}, {"WikiText-2", ppl(8500.0, true)}}},
          {"zero_shot", zero_shot(0.29)}}}};
  return {{"rows", rows}, {"settings", settings}, {"machine", "test machine"}, {"threads", 1},
          {"date", "2026-01-01"}, {"bitfold", "abc1234"}, {"command", "tools/results"}, {"failed", nlohmann::json::array()}};
}

TEST(ResultsTool, RenderWritesTheTable) {
  if (!have_python()) GTEST_SKIP() << "python3 not installed";
  const auto dir = testing::scratch_dir("results_render");
  testing::write_bytes(dir / "results.json", fixture(250).dump());
  const testing::Outcome r = run_tool("--render " + common_args(dir), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string md = testing::read_bytes(dir / "results.md");
  for (const char* part :
       {"Machine: test machine", "bitfold abc1234", "at most 250 items per task (seed 1234)",
        "## pyshakes-15m-hf", "test.txt: 16352 tokens (32 of 296 windows of 512)",
        "hellaswag 250/1000", "| chance |  |  |  |  |  | 25.0 | 25.0 | 25.0 | 25.0 | 50.0 | 50.0 | — | 29.2 |  |",
        "| FP32 | — | 27.50 | ref | 8405 | ref | 30.0 / 31.0 |",
        "| RTN static | W8A8 | 27.90 | 0.0123 | 8500 | 0.0123 | 29.0 / 30.0 |", "| 0.0 / 1.234e+04 | 29.0 | 12 s |"})
    EXPECT_NE(md.find(part), std::string::npos) << part << "\n" << md;
  EXPECT_LT(md.find("| FP32 |"), md.find("| RTN static |"));  // METHODS order
}

TEST(ResultsTool, CachedRowsAreSkippedUnderTheSameSettingsOnly) {
  if (!have_python()) GTEST_SKIP() << "python3 not installed";
  const auto dir = testing::scratch_dir("results_cache");
  testing::write_bytes(dir / "results.json", fixture(250).dump());
  const std::string only = "--dry-run --only 'pyshakes-15m-hf/FP32' " + common_args(dir);
  testing::Outcome r = run_tool(only + " --limit 250 --max-windows 32", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("pyshakes-15m-hf/FP32/—: cached"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("bitfold eval"), std::string::npos) << r.out;
  r = run_tool(only + " --limit 100 --max-windows 32", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("bitfold eval"), std::string::npos) << r.out;
  r = run_tool(only + " --limit 250 --max-windows 32 --rerun FP32", dir);
  EXPECT_NE(r.out.find("bitfold eval"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace bitfold::cli
