#include "eval/progress_bar.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fmt/format.h>

namespace bitfold::eval {

ProgressBar::ProgressBar(std::string label, std::string unit, int total, bool enabled)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(enabled && isatty(2)),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  if (drawn_) std::fputs("\r\033[K", stderr);
}

void ProgressBar::update(int done, std::string_view status) {
  if (!enabled_) return;
  constexpr int width = 30;
  const int filled = total_ > 0 ? done * width / total_ : width;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = done > 0 ? elapsed / done * (total_ - done) : 0.0;
  const int eta_s = int(std::lround(eta));
  fmt::print(stderr, "\r\033[K{} [{:#<{}}{:.<{}}] {}/{} {}  {}  ETA {}:{:02}", label_, "", filled,
             "", width - filled, done, total_, unit_, status, eta_s / 60, eta_s % 60);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace bitfold::eval
