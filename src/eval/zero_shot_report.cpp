#include "eval/zero_shot_report.h"

#include <fmt/format.h>

namespace bitfold::eval {

namespace {

std::string percent(const std::optional<double>& v) {
  return v ? fmt::format("{:.2f}", 100 * *v) : std::string("—");
}

}  // namespace

std::string zero_shot_table(const std::vector<TaskResult>& results) {
  std::string out =
      "| task | items | acc % | ± | acc_norm % | ± | chance % | ppl |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const TaskResult& r : results) {
    const std::string items = r.items == r.total_items
                                  ? fmt::format("{}", r.items)
                                  : fmt::format("{} of {}", r.items, r.total_items);
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", r.name, items,
                       percent(r.acc), percent(r.acc_stderr), percent(r.acc_norm),
                       percent(r.acc_norm_stderr), percent(r.chance),
                       r.ppl ? fmt::format("{:.3f}", *r.ppl) : std::string("—"));
  }
  if (const auto avg = multiple_choice_average(results))
    out += fmt::format("| average of {} multiple-choice tasks | | {:.2f} | | | | {:.2f} | |\n",
                       avg->tasks, 100 * avg->acc, 100 * avg->chance);
  return out;
}

nlohmann::ordered_json zero_shot_json(const std::vector<TaskResult>& results) {
  using json = nlohmann::ordered_json;
  json tasks = json::object();
  for (const TaskResult& r : results) {
    json t = {{"harness_task", r.harness_name}, {"source", r.source.string()},
              {"items", r.items},              {"total_items", r.total_items},
              {"acc", r.acc},                  {"acc_stderr", r.acc_stderr}};
    if (r.acc_norm) {
      t["acc_norm"] = *r.acc_norm;
      t["acc_norm_stderr"] = *r.acc_norm_stderr;
    }
    t["chance"] = r.chance ? json(*r.chance) : json(nullptr);
    if (r.ppl) t["ppl"] = *r.ppl;
    t["requests"] = r.requests;
    t["truncated_requests"] = r.truncated_requests;
    t["forwarded_tokens"] = r.forwarded_tokens;
    t["seconds"] = r.seconds;
    tasks[r.name] = std::move(t);
  }
  json out = {{"tasks", std::move(tasks)}};
  if (const auto avg = multiple_choice_average(results))
    out["average"] = {{"tasks", avg->tasks}, {"acc", avg->acc}, {"chance", avg->chance}};
  else
    out["average"] = nullptr;
  return out;
}

std::vector<std::string> request_dump_lines(const Task& task, const ItemScore& score) {
  const TaskItem& item = task.items.at(size_t(score.index));
  std::vector<std::string> lines;
  for (size_t k = 0; k < score.requests.size(); ++k) {
    const TokenizedRequest& t = score.requests[k];
    const nlohmann::ordered_json j = {
        {"task", task.name},
        {"item", score.index},
        {"choice", k},
        {"gold", score.gold},
        {"context", item.requests[k].context},
        {"continuation", item.requests[k].continuation},
        {"tokens", t.tokens},
        {"continuation_tokens", t.continuation},
        {"truncated", t.truncated},
        {"loglik", score.results[k].loglik},
        {"greedy", score.results[k].greedy}};
    lines.push_back(j.dump());
  }
  return lines;
}

}  // namespace bitfold::eval
