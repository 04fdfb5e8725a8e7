#pragma once
// Presenting zero-shot results: a markdown table for people, JSON for tools/results, and one
// JSON line per scored request (--dump-requests) for checking the scorer against transformers
// (tools/golden/reference_loglik.py).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/zero_shot.h"

namespace bitfold::eval {

// | task | items | acc | ± | acc_norm | ± | chance | ppl | rows, then the multiple-choice average.
std::string zero_shot_table(const std::vector<TaskResult>& results);

// {"tasks": {name: {...}}, "average": {...}} — every field of TaskResult under its own name.
nlohmann::ordered_json zero_shot_json(const std::vector<TaskResult>& results);

// The requests of one scored item, one JSON object per request (no newline at the end of each):
// task, item, choice, gold, context, continuation, tokens, continuation_tokens, truncated,
// loglik, greedy.
std::vector<std::string> request_dump_lines(const Task& task, const ItemScore& score);

}  // namespace bitfold::eval
