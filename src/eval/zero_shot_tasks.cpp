#include "eval/zero_shot_tasks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "eval/harness_text.h"
#include "text/utf8.h"

namespace bitfold::eval {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A text file as lines (without "\n" or a trailing "\r"); the empty piece after a final newline
// is not a line. Invalid UTF-8 is refused here, so every later error can name a line.
struct Line {
  int number;  // 1-based
  std::string_view text;
};

class TextLines {
 public:
  explicit TextLines(fs::path path) : path_(std::move(path)), content_(read_text_file(path_)) {
    std::string_view rest = content_;
    int number = 0;
    while (!rest.empty()) {
      const size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      ++number;
      if (const size_t bad = text::find_invalid_utf8(line); bad != std::string_view::npos)
        fail("{}:{}: not valid UTF-8 (byte 0x{:02X} at column {})", path_.string(), number,
             static_cast<unsigned char>(line[bad]), bad + 1);
      lines_.push_back({number, line});
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
    if (lines_.empty()) fail("{}: empty file", path_.string());
  }
  const fs::path& path() const { return path_; }
  const std::vector<Line>& lines() const { return lines_; }
  std::string where(const Line& line) const { return fmt::format("{}:{}", path_.string(), line.number); }

 private:
  fs::path path_;
  std::string content_;
  std::vector<Line> lines_;
};

// One JSON object per line, with typed field access whose errors name the file and line.
class JsonRecord {
 public:
  JsonRecord(const TextLines& file, const Line& line) : where_(file.where(line)) {
    if (line.text.empty()) fail("{}: empty line (expected one JSON object per line)", where_);
    try {
      value_ = json::parse(line.text);
    } catch (const json::parse_error& e) {
      fail("{}: malformed JSON: {}", where_, e.what());
    }
    if (!value_.is_object()) fail("{}: expected a JSON object", where_);
  }
  const std::string& where() const { return where_; }
  const json& field(const json& parent, std::string_view path, std::string_view key) const {
    const auto it = parent.find(key);
    if (it == parent.end()) fail("{}: missing field \"{}{}\"", where_, path, key);
    return *it;
  }
  std::string string(std::string_view key) const { return as_string(field(value_, "", key), key); }
  std::string as_string(const json& v, std::string_view name) const {
    if (!v.is_string()) fail("{}: field \"{}\" is not a string", where_, name);
    return v.get<std::string>();
  }
  bool boolean(std::string_view key) const {
    const json& v = field(value_, "", key);
    if (!v.is_boolean()) fail("{}: field \"{}\" is not true or false", where_, key);
    return v.get<bool>();
  }
  std::vector<std::string> strings(const json& v, std::string_view name) const {
    if (!v.is_array() || v.empty()) fail("{}: field \"{}\" is not a non-empty list", where_, name);
    std::vector<std::string> out;
    for (const json& e : v) out.push_back(as_string(e, name));
    return out;
  }
  const json& value() const { return value_; }

 private:
  std::string where_;
  json value_;
};

// Labels, one integer per line, each in [lo, hi].
std::vector<int> read_labels(const fs::path& path, int lo, int hi) {
  const TextLines file(path);
  std::vector<int> labels;
  for (const Line& line : file.lines()) {
    const std::string_view t = python_strip(line.text);
    if (t.size() != 1 || t[0] < char('0' + lo) || t[0] > char('0' + hi))
      fail("{}: label \"{}\" is not one of {}..{}", file.where(line), line.text, lo, hi);
    labels.push_back(t[0] - '0');
  }
  return labels;
}

void require_same_count(const fs::path& labels, size_t n_labels, const fs::path& items,
                        size_t n_items) {
  if (n_labels != n_items)
    fail("{}: {} labels for the {} items of {}", labels.string(), n_labels, n_items,
         items.string());
}

// The harness's multiple_choice requests: (context, " " + choice) for every choice.
TaskItem multiple_choice(int index, const std::string& context, std::vector<std::string> choices,
                         int gold) {
  TaskItem item;
  item.index = index;
  for (const std::string& c : choices) item.requests.push_back({context, " " + c});
  item.choices = std::move(choices);
  item.gold = gold;
  return item;
}

// hellaswag: "{activity_label}: {ctx}" then 4 endings, each preprocessed (harness utils.py).
// The file (klosax/hellaswag_text_data) holds 6 lines per item: context, gold index, 4 endings.
void load_hellaswag(Task& task, const fs::path& dir) {
  task.source = dir / "hellaswag" / "hellaswag_val_full.txt";
  const TextLines file(task.source);
  const auto& lines = file.lines();
  if (lines.size() % 6 != 0)
    fail("{}: {} lines is not a whole number of 6-line items (context, label, 4 endings)",
         file.path().string(), lines.size());
  for (size_t i = 0; i < lines.size(); i += 6) {
    const std::string_view label = python_strip(lines[i + 1].text);
    if (label.size() != 1 || label[0] < '0' || label[0] > '3')
      fail("{}: gold label \"{}\" is not one of 0..3", file.where(lines[i + 1]), lines[i + 1].text);
    std::vector<std::string> endings;
    for (size_t k = 2; k < 6; ++k) endings.push_back(hellaswag_preprocess(lines[i + k].text));
    task.items.push_back(multiple_choice(int(i / 6), hellaswag_preprocess(lines[i].text),
                                         std::move(endings), label[0] - '0'));
  }
}

// piqa: "Question: {goal}\nAnswer:", choices sol1, sol2; labels in valid-labels.lst.
void load_piqa(Task& task, const fs::path& dir) {
  task.source = dir / "piqa" / "valid.jsonl";
  const fs::path labels_path = dir / "piqa" / "valid-labels.lst";
  const TextLines file(task.source);
  for (size_t i = 0; i < file.lines().size(); ++i) {
    const JsonRecord r(file, file.lines()[i]);
    task.items.push_back(multiple_choice(int(i), "Question: " + r.string("goal") + "\nAnswer:",
                                         {r.string("sol1"), r.string("sol2")}, 0));
  }
  const std::vector<int> labels = read_labels(labels_path, 0, 1);
  require_same_count(labels_path, labels.size(), task.source, task.items.size());
  for (size_t i = 0; i < labels.size(); ++i) task.items[i].gold = labels[i];
}

// arc_easy / arc_challenge: "Question: {question}\nAnswer:", choices.text, gold =
// choices.label.index(answerKey).
void load_arc(Task& task, const fs::path& dir, std::string_view file_name) {
  task.source = dir / "arc" / file_name;
  const TextLines file(task.source);
  for (size_t i = 0; i < file.lines().size(); ++i) {
    const JsonRecord r(file, file.lines()[i]);
    const json& choices = r.field(r.value(), "", "choices");
    if (!choices.is_object()) fail("{}: field \"choices\" is not an object", r.where());
    std::vector<std::string> texts = r.strings(r.field(choices, "choices.", "text"), "choices.text");
    const std::vector<std::string> keys =
        r.strings(r.field(choices, "choices.", "label"), "choices.label");
    if (keys.size() != texts.size())
      fail("{}: {} choice labels for {} choice texts", r.where(), keys.size(), texts.size());
    const std::string answer = r.string("answerKey");
    const auto it = std::find(keys.begin(), keys.end(), answer);
    if (it == keys.end()) fail("{}: answerKey \"{}\" is not one of the choice labels", r.where(), answer);
    task.items.push_back(multiple_choice(int(i), "Question: " + r.string("question") + "\nAnswer:",
                                         std::move(texts), int(it - keys.begin())));
  }
}

// winogrande, partial evaluation: the option replaces "_" in the context, and the same
// continuation — the rest of the sentence after "_", stripped, after the delimiter " " — is
// scored under each context. doc_to_choice is the list of contexts.
void load_winogrande(Task& task, const fs::path& dir) {
  task.source = dir / "winogrande" / "dev.jsonl";
  const TextLines file(task.source);
  for (size_t i = 0; i < file.lines().size(); ++i) {
    const JsonRecord r(file, file.lines()[i]);
    const std::string sentence = r.string("sentence");
    const size_t blank = sentence.find('_');
    if (blank == std::string::npos) fail("{}: the sentence has no \"_\" to fill", r.where());
    const std::string answer = r.string("answer");
    if (answer != "1" && answer != "2")
      fail("{}: answer \"{}\" is not \"1\" or \"2\"", r.where(), answer);
    const std::string target = " " + std::string(python_strip(std::string_view(sentence).substr(blank + 1)));
    TaskItem item;
    item.index = int(i);
    for (const char* option : {"option1", "option2"}) {
      std::string context = sentence.substr(0, blank) + r.string(option);
      item.requests.push_back({context, target});
      item.choices.push_back(std::move(context));
    }
    item.gold = answer == "1" ? 0 : 1;
    task.items.push_back(std::move(item));
  }
}

// boolq (SuperGLUE): "{passage}\nQuestion: {question}?\nAnswer:", choices "no", "yes".
void load_boolq(Task& task, const fs::path& dir) {
  task.source = dir / "boolq" / "dev.jsonl";
  const TextLines file(task.source);
  for (size_t i = 0; i < file.lines().size(); ++i) {
    const JsonRecord r(file, file.lines()[i]);
    const std::string context =
        r.string("passage") + "\nQuestion: " + r.string("question") + "?\nAnswer:";
    task.items.push_back(multiple_choice(int(i), context, {"no", "yes"}, r.boolean("answer") ? 1 : 0));
  }
}

// lambada_openai: context = the text before its last " ", continuation = " " + the last word
// (text.split(' ') in the harness: single spaces only).
void load_lambada(Task& task, const fs::path& dir) {
  task.source = dir / "lambada" / "lambada_test.jsonl";
  const TextLines file(task.source);
  for (size_t i = 0; i < file.lines().size(); ++i) {
    const JsonRecord r(file, file.lines()[i]);
    const std::string text = r.string("text");
    const size_t space = text.rfind(' ');
    TaskItem item;
    item.index = int(i);
    if (space == std::string::npos) {
      item.requests.push_back({"", " " + text});
    } else {
      item.requests.push_back({text.substr(0, space), text.substr(space)});
    }
    item.choices.push_back(item.requests[0].continuation);
    task.items.push_back(std::move(item));
  }
}

}  // namespace

const std::vector<std::string_view>& task_names() {
  static const std::vector<std::string_view> names = {
      "hellaswag", "piqa", "arc_easy", "arc_challenge", "winogrande", "boolq", "lambada"};
  return names;
}

std::vector<std::string> parse_task_list(std::string_view list) {
  std::vector<std::string> out;
  if (list == "all") {
    for (std::string_view n : task_names()) out.emplace_back(n);
    return out;
  }
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view name = python_strip(list.substr(0, comma));
    if (std::find(task_names().begin(), task_names().end(), name) == task_names().end())
      fail("--tasks: unknown task \"{}\" (known: {}, or all)", name, fmt::join(task_names(), ", "));
    if (std::find(out.begin(), out.end(), name) != out.end())
      fail("--tasks: \"{}\" given twice", name);
    out.emplace_back(name);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

Task load_task(std::string_view name, const fs::path& data_dir) {
  Task task;
  task.name = std::string(name);
  task.harness_name = task.name;
  task.reports_acc_norm = true;
  if (name == "hellaswag") {
    load_hellaswag(task, data_dir);
  } else if (name == "piqa") {
    load_piqa(task, data_dir);
  } else if (name == "arc_easy") {
    load_arc(task, data_dir, "ARC-Easy-test.jsonl");
  } else if (name == "arc_challenge") {
    load_arc(task, data_dir, "ARC-Challenge-test.jsonl");
  } else if (name == "winogrande") {
    task.reports_acc_norm = false;
    load_winogrande(task, data_dir);
  } else if (name == "boolq") {
    task.reports_acc_norm = false;
    load_boolq(task, data_dir);
  } else if (name == "lambada") {
    task.harness_name = "lambada_openai";
    task.scoring = TaskScoring::LastWord;
    task.reports_acc_norm = false;
    load_lambada(task, data_dir);
  } else {
    fail("unknown task \"{}\" (known: {})", name, fmt::join(task_names(), ", "));
  }
  return task;
}

}  // namespace bitfold::eval
