#pragma once
// One line on stderr, redrawn in place while a long evaluation runs:
//   "hellaswag [#####.........] 120/400 items  acc 0.2917  ETA 1:42"
// Drawn only when stderr is a terminal, so logs and pipes stay clean; erased when destroyed so
// the report printed on stdout afterwards starts on a clean line.
#include <chrono>
#include <string>
#include <string_view>

namespace bitfold::eval {

class ProgressBar {
 public:
  // `label` names the work ("ppl", "hellaswag"), `unit` what is counted ("windows", "items").
  ProgressBar(std::string label, std::string unit, int total, bool enabled);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `done` of `total` finished; `status` is a short running figure ("ppl 27.31").
  void update(int done, std::string_view status = {});

 private:
  std::string label_, unit_;
  int total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace bitfold::eval
