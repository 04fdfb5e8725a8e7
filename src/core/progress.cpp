#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace bitfold {

using Clock = std::chrono::steady_clock;

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && isatty(2)),
      start_(Clock::now()) {}

ProgressBar::~ProgressBar() {
  if (drawn_) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
}

void ProgressBar::set_total(int64_t total) { total_ = total; }

void ProgressBar::advance(int64_t steps, const std::string& note) {
  done_ += steps;
  if (!enabled_) return;
  // Redraw at most ten times a second: a terminal write per calibration window is noise.
  const auto now = Clock::now();
  if (drawn_ && done_ < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(note);
}

void ProgressBar::draw(const std::string& note) {
  constexpr int64_t width = 30;
  const int64_t shown = std::min(done_, total_);
  const int64_t filled = total_ > 0 ? shown * width / total_ : width;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double eta = shown > 0 ? elapsed / double(shown) * double(total_ - shown) : 0.0;
  const int64_t eta_s = std::llround(eta);
  fmt::print(stderr, "\r\033[K{} [{:#<{}}{:.<{}}] {}/{}{}{}  ETA {}:{:02}", label_, "", filled, "",
             width - filled, shown, total_, note.empty() ? "" : "  ", note, eta_s / 60, eta_s % 60);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace bitfold
