// The seed's disk cache design, rebuilt as a benchmark baseline: blocking system calls on
// the caller's thread, one file per key named by the BLAKE3 of the key in one flat
// directory, written to a temp name (payload, then a 32-byte BLAKE3 footer) and installed
// by rename. flush() fdatasyncs every file installed since the last flush on up to 16
// threads, then fsyncs the directory. A get reads the whole file and checks the footer.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "larder/blob.hpp"
#include "larder/fingerprint.hpp"
#include "larder/hasher.hpp"

namespace larder::bench {

class blocking_disk {
 public:
  /// `root` must exist.
  explicit blocking_disk(std::string root) : root_(std::move(root)) {}

  bool put(std::string_view key, const larder::blob& value) {
    const auto name = larder::fingerprint::of(key).to_hex();
    const auto tmp = root_ + "/." + name + "-" + std::to_string(temp_counter_++) + ".bin.tmp";
    const auto path = root_ + "/" + name + ".bin";
    std::byte footer[32];
    larder::hasher h;
    h.update(value.bytes());
    h.finalize_into(footer);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return false;
    const bool ok = write_all(fd, value.data(), value.size()) && write_all(fd, footer, 32);
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
      ::unlink(tmp.c_str());
      return false;
    }
    std::lock_guard lock(mutex_);
    pending_.push_back(path);
    return true;
  }

  /// The payload, or an empty blob on a miss or a failed check.
  larder::blob get(std::string_view key) {
    const auto path = root_ + "/" + larder::fingerprint::of(key).to_hex() + ".bin";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return {};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size < 32) {
      ::close(fd);
      return {};
    }
    std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    while (done < bytes.size()) {
      const auto n = ::read(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (done != bytes.size()) return {};
    const auto payload = std::string_view(bytes).substr(0, bytes.size() - 32);
    const auto digest = larder::fingerprint::of(payload);
    if (std::memcmp(digest.bytes().data(), bytes.data() + payload.size(), 32) != 0) return {};
    bytes.resize(payload.size());
    return larder::blob(std::move(bytes));
  }

  /// fdatasync of every installed file on up to 16 threads, then fsync of the directory.
  bool flush() {
    std::vector<std::string> paths;
    {
      std::lock_guard lock(mutex_);
      paths.swap(pending_);
    }
    const auto workers = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 16);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> ok{true};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < std::min(workers, paths.size()); ++t)
      threads.emplace_back([&] {
        for (auto i = next++; i < paths.size(); i = next++) {
          const int fd = ::open(paths[i].c_str(), O_RDONLY | O_CLOEXEC);
          if (fd < 0 || ::fdatasync(fd) != 0) ok = false;
          if (fd >= 0) ::close(fd);
        }
      });
    for (auto& t : threads)
      t.join();
    const int dir = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 || ::fsync(dir) != 0) ok = false;
    if (dir >= 0) ::close(dir);
    return ok;
  }

 private:
  static bool write_all(int fd, const void* data, std::size_t size) {
    auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const auto n = ::write(fd, p, size);
      if (n <= 0) return false;
      p += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }

  std::string root_;
  std::atomic<std::uint64_t> temp_counter_{0};
  std::mutex mutex_;
  std::vector<std::string> pending_;
};

}  // namespace larder::bench
