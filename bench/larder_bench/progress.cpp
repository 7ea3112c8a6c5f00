#include "larder_bench/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "larder_bench/units.hpp"

namespace larder::bench {

progress_display::progress_display(std::string label, bool tty)
    : label_(std::move(label)), tty_(tty) {}

bool progress_display::stderr_is_tty() noexcept {
  return ::isatty(STDERR_FILENO) == 1;
}

void progress_display::update(double done, double elapsed, std::uint64_t ops, std::uint64_t gets,
                              std::uint64_t hits) {
  const double interval = tty_ ? 0.2 : 2.0;
  if (elapsed - last_print_ < interval) return;
  // The rate over the last interval: what the store does now, not the average so far.
  const double span = elapsed - last_elapsed_;
  const double rate = span > 0 ? static_cast<double>(ops - last_ops_) / span : 0.0;
  last_print_ = last_elapsed_ = elapsed;
  last_ops_ = ops;
  const double hit_pct = gets ? 100.0 * static_cast<double>(hits) / static_cast<double>(gets) : 0;
  done = std::clamp(done, 0.0, 1.0);
  if (tty_) {
    constexpr int width = 28;
    const int filled = static_cast<int>(done * width);
    char bar[width + 1];
    for (int i = 0; i < width; ++i)
      bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    // \r and erase-to-end-of-line: one line, redrawn in place.
    std::fprintf(stderr, "\r%s [%s] %3.0f%% %6.1fs %9s ops %10s ops/s  hits %5.1f%%\x1b[K",
                 label_.c_str(), bar, done * 100, elapsed,
                 format_count(static_cast<double>(ops)).c_str(), format_count(rate).c_str(),
                 hit_pct);
    drawn_ = true;
  } else {
    std::fprintf(stderr, "%s: %5.1fs %3.0f%%, %llu ops, %s ops/s, hits %.1f%%\n", label_.c_str(),
                 elapsed, done * 100, static_cast<unsigned long long>(ops),
                 format_count(rate).c_str(), hit_pct);
  }
  std::fflush(stderr);
}

void progress_display::finish() {
  if (tty_ && drawn_) {
    std::fputs("\r\x1b[K", stderr);
    std::fflush(stderr);
  }
  drawn_ = false;
}

}  // namespace larder::bench
