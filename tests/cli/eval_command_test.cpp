// `bitfold eval` and `bitfold ppl --kl-base` end to end, through the built binary, on stories260K
// and the hand-made tasks of tests/data/eval/tasks.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "run_bitfold.h"

namespace bitfold::cli {
namespace {

namespace fs = std::filesystem;
using testing::Outcome;
using testing::run_bitfold;

const std::string kStories = testing::repo_path("models/stories260K/stories260K.bin").string();
const std::string kTasks = testing::repo_path("tests/data/eval/tasks").string();

int count_lines(const std::string& s) { return int(std::count(s.begin(), s.end(), '\n')); }

TEST(EvalCommand, AllTasksTableJsonAndRequestDump) {
  const auto dir = testing::scratch_dir("cli_eval");
  const Outcome r = run_bitfold("eval " + kStories + " --tasks all --data " + kTasks + " --json " +
                                    (dir / "r.json").string() + " --dump-requests " +
                                    (dir / "requests.jsonl").string() + " --threads 1",
                                dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;  // no progress bar when stderr is not a terminal
  for (const char* row : {"| hellaswag | 3 |", "| piqa | 3 |", "| arc_easy | 3 |",
                          "| arc_challenge | 2 |", "| winogrande | 3 |", "| boolq | 3 |",
                          "| lambada | 3 |", "| average of 6 multiple-choice tasks |", "BOS on",
                          "all items, seed 1234", "tokens forwarded"})
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;

  const auto j = nlohmann::json::parse(testing::read_bytes(dir / "r.json"));
  EXPECT_EQ(j["tasks"].size(), 7u);
  EXPECT_EQ(j["tasks"]["hellaswag"]["items"], 3);
  EXPECT_DOUBLE_EQ(j["tasks"]["hellaswag"]["chance"].get<double>(), 0.25);
  EXPECT_TRUE(j["tasks"]["hellaswag"].contains("acc_norm"));
  EXPECT_FALSE(j["tasks"]["boolq"].contains("acc_norm"));
  EXPECT_TRUE(j["tasks"]["lambada"]["chance"].is_null());
  EXPECT_GT(j["tasks"]["lambada"]["ppl"].get<double>(), 1.0);
  EXPECT_EQ(j["tasks"]["lambada"]["harness_task"], "lambada_openai");
  EXPECT_EQ(j["average"]["tasks"], 6);
  EXPECT_EQ(j["bos"], true);

  // One line per request: 4·3 + 2·3 + 11 + 9 + 2·3 + 2·3 + 3.
  const std::string dump = testing::read_bytes(dir / "requests.jsonl");
  EXPECT_EQ(count_lines(dump), 53);
  const auto first = nlohmann::json::parse(dump.substr(0, dump.find('\n')));
  EXPECT_EQ(first["task"], "hellaswag");
  EXPECT_EQ(first["context"], "Baking cookies: A woman puts flour in a bowl. she");
  EXPECT_EQ(first["tokens"][0], 1);  // BOS
  EXPECT_LT(first["loglik"].get<double>(), 0);
}

TEST(EvalCommand, LimitAndSeedPickTheSameItemsTwice) {
  const auto dir = testing::scratch_dir("cli_eval_limit");
  const std::string args = "eval " + kStories + " --tasks arc_easy,lambada --limit 2 --seed 3 --data " +
                           kTasks + " --dump-requests " + (dir / "d.jsonl").string();
  const Outcome a = run_bitfold(args, dir);
  ASSERT_EQ(a.code, 0) << a.err;
  const std::string first = testing::read_bytes(dir / "d.jsonl");
  const Outcome b = run_bitfold(args, dir);
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(first, testing::read_bytes(dir / "d.jsonl"));
  EXPECT_NE(a.out.find("| arc_easy | 2 of 3 |"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("at most 2 items per task, seed 3"), std::string::npos) << a.out;
}

TEST(EvalCommand, DataDirectoryFromTheEnvironment) {
  const auto dir = testing::scratch_dir("cli_eval_env");
  fs::create_directories(dir / "data");
  fs::copy(kTasks, dir / "data" / "tasks", fs::copy_options::recursive);
  const Outcome r = run_bitfold("eval " + kStories + " --tasks boolq", dir,
                                "BITFOLD_SHARED_DATA=" + (dir / "data").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find((dir / "data" / "tasks").string()), std::string::npos) << r.out;
}

TEST(EvalCommand, BadInputIsOneLineAndExitCodeOne) {
  const auto dir = testing::scratch_dir("cli_eval_bad");
  fs::copy(kTasks, dir / "tasks", fs::copy_options::recursive);
  testing::write_bytes(dir / "tasks" / "piqa" / "valid.jsonl", "{\"goal\": \"x\"\n");
  const std::string eval = "eval " + kStories + " ";
  for (const std::string& args :
       {eval + "--tasks mmlu --data " + kTasks,
        eval + "--tasks piqa --data " + (dir / "nowhere").string(),
        eval + "--tasks piqa --data " + (dir / "tasks").string(),
        eval + "--tasks boolq --limit -1 --data " + kTasks,
        eval + "--tasks boolq --data " + kTasks + " --json " + (dir / "no" / "r.json").string(),
        "eval " + (dir / "missing.bin").string() + " --tasks boolq --data " + kTasks}) {
    const Outcome r = run_bitfold(args, dir);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
    EXPECT_TRUE(r.err.starts_with("bitfold: error: ")) << args << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << args << "\n" << r.err;
  }
  const Outcome malformed = run_bitfold(eval + "--tasks piqa --data " + (dir / "tasks").string(), dir);
  EXPECT_NE(malformed.err.find("valid.jsonl:1: malformed JSON"), std::string::npos) << malformed.err;
  EXPECT_FALSE(fs::exists(dir / "no"));
  EXPECT_NE(run_bitfold("eval " + kStories, dir).code, 0);  // --tasks is required
}

TEST(PplCommand, KlBaseAgainstItselfAndWindowCap) {
  const auto dir = testing::scratch_dir("cli_ppl_kl");
  const std::string text = testing::repo_path("models/stories260K/greedy-200.txt").string();
  const Outcome r = run_bitfold("ppl " + kStories + " --text " + text + " --ctx 64 --kl-base " +
                                    kStories + " --max-windows 2 --json " +
                                    (dir / "p.json").string(),
                                dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ctx 64, 2 windows, 126 scored tokens (2 of 3 windows, evenly spaced)"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KL divergence from " + kStories), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mean 0 ± 0, median 0, p99 0, max 0 nats/token"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-1 agreement with " + kStories + ": 100.000%"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(testing::read_bytes(dir / "p.json"));
  EXPECT_EQ(j["windows"], 2);
  EXPECT_EQ(j["total_windows"], 3);
  EXPECT_EQ(j["kl"]["tokens"], 126);
  EXPECT_DOUBLE_EQ(j["kl"]["top1_agreement"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["base_ppl"].get<double>(), j["ppl"].get<double>());

  const Outcome bad = run_bitfold("ppl " + kStories + " --text " + text + " --kl-base " +
                                      testing::repo_path("models/pyshakes-15m-hf").string(), dir);
  EXPECT_EQ(bad.code, 1) << bad.err;
  EXPECT_NE(bad.err.find("vocabulary"), std::string::npos) << bad.err;
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
}

}  // namespace
}  // namespace bitfold::cli
