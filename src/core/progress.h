#pragma once
// A progress bar with ETA on stderr, redrawn in place on one line, only when stderr is a
// terminal (logs and tests see nothing):
//   calibrate [##########..........] 37/96  block 3/8  ETA 1:12
#include <chrono>
#include <cstdint>
#include <string>

namespace bitfold {

class ProgressBar {
 public:
  // `enabled` false (or stderr not a terminal): every call does nothing.
  ProgressBar(std::string label, int64_t total, bool enabled);
  ~ProgressBar();  // clears the line it drew
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void set_total(int64_t total);
  // Advances by `steps`; `note` is shown after the counts ("block 3/8").
  void advance(int64_t steps = 1, const std::string& note = {});
  int64_t done() const { return done_; }
  int64_t total() const { return total_; }

 private:
  void draw(const std::string& note);

  std::string label_;
  int64_t total_ = 0, done_ = 0;
  bool enabled_ = false, drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace bitfold
