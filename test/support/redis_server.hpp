// A private redis-server for a test: a free port on 127.0.0.1, its own temporary
// directory, no persistence. It can be killed (SIGKILL) and started again on the same
// port. A test executable that finds no redis-server exits 77, which meson reports as
// skipped.
#pragma once

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

namespace larder::testing {

class redis_server {
 public:
  redis_server() {
    if (!available()) {
      std::fprintf(stderr, "redis-server not found: skipping\n");
      std::exit(77);
    }
    const char* base = std::getenv("LARDER_TEST_TMP");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/larder-redis-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      if (start()) return;
    }
    throw std::runtime_error("redis-server did not start");
  }
  ~redis_server() {
    kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  /// The one server of this test executable, started on first use.
  static redis_server& shared() {
    static redis_server server;
    return server;
  }

  static bool available() { return std::system("command -v redis-server >/dev/null 2>&1") == 0; }

  std::uint16_t port() const noexcept { return port_; }
  bool running() const noexcept { return pid_ > 0; }

  /// SIGKILL and reap: no shutdown, connections just break.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  /// Starts the server on port(); true once it answers PING.
  bool start() {
    if (pid_ > 0) return true;
    const std::string port = std::to_string(port_), log = dir_ + "/redis.log";
    const pid_t child = ::fork();
    if (child == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no orphaned server if the test dies
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1",
               "--dir", dir_.c_str(), "--save", "", "--appendonly", "no", "--daemonize", "no",
               "--logfile", log.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (child < 0) return false;
    pid_ = child;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken?
        pid_ = -1;
        return false;
      }
      if (ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill();
    return false;
  }

  /// SIGSTOP / SIGCONT: the server holds its connections but answers nothing.
  void pause() const {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void resume() const {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }

  /// A blocking PING on a fresh connection.
  bool ping() const { return command_ok("PING"); }

  /// The text of a status or string reply to `text` ("" on failure).
  std::string command_text(const char* text) const {
    timeval timeout{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeout);
    if (c == nullptr) return {};
    std::string out;
    if (c->err == 0) {
      auto* r = static_cast<redisReply*>(redisCommand(c, text));
      if (r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
        out.assign(r->str, r->len);
      if (r) freeReplyObject(r);
    }
    redisFree(c);
    return out;
  }

  /// Runs one command on a fresh blocking connection; true on a non-error reply.
  bool command_ok(const char* text) const {
    timeval timeout{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeout);
    if (c == nullptr) return false;
    bool ok = false;
    if (c->err == 0) {
      auto* r = static_cast<redisReply*>(redisCommand(c, text));
      ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
      if (r) freeReplyObject(r);
    }
    redisFree(c);
    return ok;
  }

 private:
  static std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(address.sin_port);
  }

  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace larder::testing
