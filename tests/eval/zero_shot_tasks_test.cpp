// Prompt construction of every task, on hand-made items in tests/data/eval/tasks (the formats of
// ../shared/data/tasks), against the strings lm-evaluation-harness's templates produce (worked out
// by hand from the task YAML / utils.py); the real files when ../shared/data is present; and the
// one-line errors of damaged files.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "eval/zero_shot_tasks.h"
#include "file_fixtures.h"
#include "test_support.h"

namespace bitfold::eval {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;

const fs::path kFixture = testing::repo_path("tests/data/eval/tasks");

std::vector<std::string> contexts(const TaskItem& item) {
  std::vector<std::string> out;
  for (const auto& r : item.requests) out.push_back(r.context);
  return out;
}
std::vector<std::string> continuations(const TaskItem& item) {
  std::vector<std::string> out;
  for (const auto& r : item.requests) out.push_back(r.continuation);
  return out;
}
using Strings = std::vector<std::string>;

TEST(ZeroShotTasks, HellaswagPreprocessesContextAndEndings) {
  const Task t = load_task("hellaswag", kFixture);
  ASSERT_EQ(t.items.size(), 3u);
  EXPECT_TRUE(t.reports_acc_norm);
  const TaskItem& a = t.items[0];
  EXPECT_EQ(a.gold, 2);
  EXPECT_EQ(contexts(a), Strings(4, "Baking cookies: A woman puts flour in a bowl. she"));
  EXPECT_EQ(continuations(a), (Strings{" drives a car to the moon.", " sings to the bowl.",
                                       " stirs the flour with a spoon.", " eats the bowl whole."}));
  EXPECT_EQ(a.choices[1], "sings to the bowl.");  // acc_norm length: without the delimiter
  const TaskItem& b = t.items[1];
  EXPECT_EQ(b.index, 1);
  EXPECT_EQ(b.gold, 0);
  EXPECT_EQ(b.requests[0].context, "Home and Garden: How to water a plant. Fill a can with water.  Pour it");
  EXPECT_EQ(b.choices, (Strings{"slowly on the soil around the stem.", " into the sky above.",
                                "on the cat twice.", "over the keyboard."}));
  EXPECT_EQ(b.requests[1].continuation, "  into the sky above.");
  EXPECT_EQ(t.items[2].gold, 3);
}

TEST(ZeroShotTasks, PiqaQuestionAnswerTemplate) {
  const Task t = load_task("piqa", kFixture);
  ASSERT_EQ(t.items.size(), 3u);
  EXPECT_EQ(t.items[0].requests[0].context, "Question: To dry wet shoes\nAnswer:");
  EXPECT_EQ(continuations(t.items[0]),
            (Strings{" put them in the oven at full heat.", " stuff them with newspaper."}));
  EXPECT_EQ(t.items[0].gold, 1);
  EXPECT_EQ(t.items[2].requests[0].continuation, " store it in a sealed bag ");  // kept as is
  EXPECT_EQ(t.items[2].gold, 0);
}

TEST(ZeroShotTasks, ArcChoicesAndAnswerKeys) {
  const Task easy = load_task("arc_easy", kFixture);
  ASSERT_EQ(easy.items.size(), 3u);
  EXPECT_EQ(easy.items[0].requests[0].context,
            "Question: What do plants need to make food?\nAnswer:");
  EXPECT_EQ(continuations(easy.items[1]), (Strings{" ice", " water", " steam"}));
  EXPECT_EQ(easy.items[1].gold, 1);  // answerKey "2" among labels "1", "2", "3"
  EXPECT_EQ(easy.items[2].gold, 2);
  const Task challenge = load_task("arc_challenge", kFixture);
  ASSERT_EQ(challenge.items.size(), 2u);
  EXPECT_EQ(challenge.items[0].requests.size(), 5u);
  EXPECT_EQ(challenge.items[0].gold, 1);
  EXPECT_EQ(challenge.items[0].choices[1], "carbon dioxide");
}

TEST(ZeroShotTasks, WinograndePartialEvaluation) {
  const Task t = load_task("winogrande", kFixture);
  ASSERT_EQ(t.items.size(), 3u);
  EXPECT_FALSE(t.reports_acc_norm);
  EXPECT_EQ(contexts(t.items[0]), (Strings{"The cup did not fit in the box because the cup",
                                           "The cup did not fit in the box because the box"}));
  EXPECT_EQ(continuations(t.items[0]), Strings(2, " was too big."));
  EXPECT_EQ(t.items[0].gold, 0);
  EXPECT_EQ(t.items[2].requests[1].continuation, " got tired.");  // stripped
  EXPECT_EQ(t.items[2].gold, 1);
  EXPECT_EQ(t.items[2].choices, contexts(t.items[2]));
}

TEST(ZeroShotTasks, BoolqPassageQuestionYesNo) {
  const Task t = load_task("boolq", kFixture);
  ASSERT_EQ(t.items.size(), 3u);
  EXPECT_EQ(t.items[0].requests[0].context, "Water is a liquid.\nQuestion: is water wet?\nAnswer:");
  EXPECT_EQ(continuations(t.items[0]), (Strings{" no", " yes"}));
  EXPECT_EQ(t.items[0].gold, 1);
  EXPECT_EQ(t.items[1].gold, 0);
}

TEST(ZeroShotTasks, LambadaLastWord) {
  const Task t = load_task("lambada", kFixture);
  EXPECT_EQ(t.harness_name, "lambada_openai");
  EXPECT_EQ(t.scoring, TaskScoring::LastWord);
  ASSERT_EQ(t.items.size(), 3u);
  EXPECT_EQ(t.items[0].requests[0].context,
            "She opened the door and saw her old friend standing there. \"Hello,\" said her");
  EXPECT_EQ(t.items[0].requests[0].continuation, " friend");
  EXPECT_EQ(t.items[1].requests[0].context, "He poured the milk.\n\nThen he drank the");
  EXPECT_EQ(t.items[2].requests[0].context, "");
  EXPECT_EQ(t.items[2].requests[0].continuation, " Alone");
}

TEST(ZeroShotTasks, TaskListParsing) {
  EXPECT_EQ(parse_task_list("piqa, boolq"), (Strings{"piqa", "boolq"}));
  EXPECT_EQ(parse_task_list("all").size(), task_names().size());
  expect_error([] { parse_task_list("piqa,mmlu"); }, {"--tasks", "mmlu", "hellaswag"});
  expect_error([] { parse_task_list("piqa,piqa"); }, {"piqa", "twice"});
  expect_error([] { parse_task_list(""); }, {"unknown task"});
}

// A copy of the fixture with one file replaced.
fs::path damaged(const std::string& name, const std::string& relative, const std::string& text) {
  const fs::path dir = testing::scratch_dir("tasks_" + name);
  fs::copy(kFixture, dir, fs::copy_options::recursive);
  testing::write_bytes(dir / relative, text);
  return dir;
}

TEST(ZeroShotTasks, DamagedFilesAreOneLineErrorsNamingFileAndLine) {
  const std::string piqa_ok = testing::read_bytes(kFixture / "piqa/valid.jsonl");
  expect_error([] { load_task("piqa", testing::scratch_dir("tasks_empty_dir")); },
               {"piqa/valid.jsonl", "cannot open"});
  expect_error([&] { load_task("piqa", damaged("piqa_json", "piqa/valid.jsonl", piqa_ok + "{\"goal\": \n")); },
               {"valid.jsonl:4:", "malformed JSON"});
  expect_error([&] { load_task("piqa", damaged("piqa_field", "piqa/valid.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\"}\n")); },
               {"valid.jsonl:1:", "missing field \"sol2\""});
  expect_error([&] { load_task("piqa", damaged("piqa_type", "piqa/valid.jsonl", "{\"goal\": 3, \"sol1\": \"a\", \"sol2\": \"b\"}\n")); },
               {"valid.jsonl:1:", "\"goal\" is not a string"});
  expect_error([&] { load_task("piqa", damaged("piqa_labels", "piqa/valid-labels.lst", "1\n0\n")); },
               {"valid-labels.lst", "2 labels", "3 items"});
  expect_error([&] { load_task("piqa", damaged("piqa_label", "piqa/valid-labels.lst", "1\n2\n0\n")); },
               {"valid-labels.lst:2:", "label \"2\""});
  expect_error([&] { load_task("piqa", damaged("piqa_blank", "piqa/valid.jsonl", "\n" + piqa_ok)); },
               {"valid.jsonl:1:", "empty line"});
  expect_error([&] { load_task("piqa", damaged("piqa_utf8", "piqa/valid.jsonl", piqa_ok + "{\"goal\": \"caf\xE9\"}\n")); },
               {"valid.jsonl:4:", "not valid UTF-8"});
  expect_error([&] { load_task("hellaswag", damaged("hs_lines", "hellaswag/hellaswag_val_full.txt", "ctx\n1\na\nb\nc\n")); },
               {"hellaswag_val_full.txt", "5 lines", "6-line"});
  expect_error([&] { load_task("hellaswag", damaged("hs_label", "hellaswag/hellaswag_val_full.txt", "ctx\n4\na\nb\nc\nd\n")); },
               {"hellaswag_val_full.txt:2:", "gold label \"4\""});
  expect_error([&] { load_task("arc_easy", damaged("arc_key", "arc/ARC-Easy-test.jsonl",
                     "{\"question\": \"q\", \"choices\": {\"text\": [\"a\"], \"label\": [\"A\"]}, \"answerKey\": \"B\"}\n")); },
               {"ARC-Easy-test.jsonl:1:", "answerKey \"B\""});
  expect_error([&] { load_task("arc_easy", damaged("arc_shape", "arc/ARC-Easy-test.jsonl",
                     "{\"question\": \"q\", \"choices\": {\"text\": [\"a\", \"b\"], \"label\": [\"A\"]}, \"answerKey\": \"A\"}\n")); },
               {"ARC-Easy-test.jsonl:1:", "1 choice labels for 2"});
  expect_error([&] { load_task("winogrande", damaged("wg_blank", "winogrande/dev.jsonl",
                     "{\"sentence\": \"no blank\", \"option1\": \"a\", \"option2\": \"b\", \"answer\": \"1\"}\n")); },
               {"dev.jsonl:1:", "no \"_\""});
  expect_error([&] { load_task("winogrande", damaged("wg_answer", "winogrande/dev.jsonl",
                     "{\"sentence\": \"a _ b\", \"option1\": \"a\", \"option2\": \"b\", \"answer\": \"3\"}\n")); },
               {"dev.jsonl:1:", "answer \"3\""});
  expect_error([&] { load_task("boolq", damaged("bq_answer", "boolq/dev.jsonl",
                     "{\"question\": \"q\", \"passage\": \"p\", \"answer\": \"yes\"}\n")); },
               {"dev.jsonl:1:", "\"answer\" is not true or false"});
  expect_error([&] { load_task("lambada", damaged("lb_empty", "lambada/lambada_test.jsonl", "")); },
               {"lambada_test.jsonl", "empty file"});
}

// The real data, when ../shared/data is here: item counts from MANIFEST.md and first items.
TEST(ZeroShotTasks, SharedDataLoads) {
  const fs::path dir = testing::shared_data("tasks");
  BITFOLD_REQUIRE_SHARED(dir);
  const std::vector<std::pair<std::string, size_t>> counts = {
      {"hellaswag", 10042}, {"piqa", 1838},       {"arc_easy", 2376}, {"arc_challenge", 1172},
      {"winogrande", 1267}, {"boolq", 3270},      {"lambada", 5153}};
  for (const auto& [name, n] : counts) {
    const Task t = load_task(name, dir);
    EXPECT_EQ(t.items.size(), n) << name;
  }
  const Task piqa = load_task("piqa", dir);
  EXPECT_EQ(piqa.items[0].requests[0].context,
            "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
  EXPECT_EQ(piqa.items[0].gold, 0);
  const Task hs = load_task("hellaswag", dir);
  EXPECT_EQ(hs.items[0].requests[0].context, "Roof shingle removal: A man is sitting on a roof. he");
  EXPECT_EQ(hs.items[0].requests[0].continuation, " is using wrap to wrap a pair of skis.");
  EXPECT_EQ(hs.items[0].gold, 3);
  const Task wg = load_task("winogrande", dir);
  EXPECT_EQ(wg.items[0].requests[1].context,
            "Sarah was a much better surgeon than Maria so Maria");
  EXPECT_EQ(wg.items[0].requests[1].continuation, " always got the easier cases.");
  EXPECT_EQ(wg.items[0].gold, 1);
}

}  // namespace
}  // namespace bitfold::eval
