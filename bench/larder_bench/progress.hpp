// Live progress on stderr: one redrawn line with a bar on a terminal, a plain line every
// two seconds otherwise (logs, CI), so a long run is never silent.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace larder::bench {

class progress_display {
 public:
  /// `label` names the phase ("layered", "warm-up"). `tty`: redraw one line in place.
  progress_display(std::string label, bool tty);

  /// `done` in [0, 1]; `elapsed` seconds since the phase began; counts so far.
  void update(double done, double elapsed, std::uint64_t ops, std::uint64_t gets,
              std::uint64_t hits);
  /// Ends the redrawn line (a terminal) so later output starts on a fresh one.
  void finish();

  /// Whether stderr is a terminal.
  static bool stderr_is_tty() noexcept;

 private:
  std::string label_;
  bool tty_;
  bool drawn_ = false;
  double last_print_ = -1e9;
  double last_elapsed_ = 0;
  std::uint64_t last_ops_ = 0;
};

}  // namespace larder::bench
