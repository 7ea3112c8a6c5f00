// A reader-writer lock whose readers never write a shared cache line.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>

namespace larder::detail::mem {

/// A small number unique to the calling thread, fixed for its life: a lock_shared and
/// its unlock_shared always pick the same stripe from it.
unsigned thread_index() noexcept;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// A "big reader" lock. A reader bumps a counter on its own thread's cache line and
/// checks the writer flag; a writer raises the flag and waits for every reader line to
/// drain. Hits on one hot shard from several cores then share no written line at all,
/// where a std::shared_mutex makes every reader write the same lock word. Writers pay a
/// scan of the stripes, which the short critical sections here (no I/O, no user code)
/// keep cheap. Meets the SharedMutex requirements, so std::shared_lock and
/// std::unique_lock work with it. Not recursive.
class shard_mutex {
 public:
  static constexpr unsigned stripes = 8;

  void lock_shared() noexcept {
    auto& mine = readers_[thread_index() % stripes].count;
    for (;;) {
      // seq_cst on both sides (this increment and load, the writer's store and loads)
      // is what lets each side see the other's announcement: a Dekker handshake.
      mine.fetch_add(1, std::memory_order_seq_cst);
      if (!writer_.load(std::memory_order_seq_cst)) return;
      mine.fetch_sub(1, std::memory_order_release);
      wait_while_writer();
    }
  }
  void unlock_shared() noexcept {
    readers_[thread_index() % stripes].count.fetch_sub(1, std::memory_order_release);
  }

  void lock() noexcept {
    for (unsigned spins = 0; writer_.exchange(true, std::memory_order_seq_cst); ++spins)
      backoff(spins);
    for (auto& r : readers_)
      for (unsigned spins = 0; r.count.load(std::memory_order_seq_cst) != 0; ++spins)
        backoff(spins);
  }
  void unlock() noexcept { writer_.store(false, std::memory_order_release); }

 private:
  static void backoff(unsigned spins) noexcept {
    // Spin briefly (sections are short), then yield so that a preempted holder on a
    // two-core machine gets the core back.
    if (spins < 64) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  void wait_while_writer() const noexcept {
    for (unsigned spins = 0; writer_.load(std::memory_order_relaxed); ++spins)
      backoff(spins);
  }

  struct alignas(64) reader_line {
    std::atomic<std::uint32_t> count{0};
  };
  alignas(64) std::atomic<bool> writer_{false};
  std::array<reader_line, stripes> readers_;
};

}  // namespace larder::detail::mem
