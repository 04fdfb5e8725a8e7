#pragma once
// The zero-shot tasks: each item turned into the (context, continuation) requests whose
// log-likelihoods decide it, exactly as EleutherAI's lm-evaluation-harness builds them (prompt
// templates, target delimiter " ", HellaSwag preprocessing, WinoGrande partial evaluation,
// LAMBADA's last word). docs/eval.md gives every task's format; the data files are those of
// ../shared/data/tasks (MANIFEST.md there).
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace bitfold::eval {

// One log-likelihood query: log P(continuation | context).
struct LoglikRequest {
  std::string context;
  std::string continuation;
};

enum class TaskScoring {
  MultipleChoice,  // one request per choice; the most likely choice is the answer
  LastWord,        // LAMBADA: one request; right when every target token is the argmax
};

struct TaskItem {
  int index = 0;                        // 0-based position in the task file
  std::vector<LoglikRequest> requests;  // one per choice (LastWord: exactly one)
  // The harness's doc_to_choice strings: acc_norm divides each choice's log-likelihood by the
  // code-point length of its string (without the leading delimiter).
  std::vector<std::string> choices;
  int gold = 0;                         // index of the right choice (LastWord: 0)
};

struct Task {
  std::string name;            // as on the command line: "hellaswag", "arc_easy", ...
  std::string harness_name;    // the lm-eval-harness task it reproduces ("lambada_openai")
  TaskScoring scoring = TaskScoring::MultipleChoice;
  bool reports_acc_norm = false;  // the harness's metric list has acc_norm
  std::filesystem::path source;   // the main data file
  std::vector<TaskItem> items;
};

// hellaswag, piqa, arc_easy, arc_challenge, winogrande, boolq, lambada — in that order.
const std::vector<std::string_view>& task_names();

// Parses "hellaswag,piqa" (or "all"): names checked, duplicates refused.
std::vector<std::string> parse_task_list(std::string_view list);

// Reads task `name` from `data_dir` (the layout of ../shared/data/tasks). Errors are one line
// naming the file and line: missing file, malformed JSON, a missing or mistyped field, a label
// out of range, label files that do not match the items.
Task load_task(std::string_view name, const std::filesystem::path& data_dir);

}  // namespace bitfold::eval
