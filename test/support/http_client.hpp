// Raw-socket HTTP for the larder-server tests: a child server process, blocking sockets,
// responses framed by http-parser (the same library the server uses, in response mode).
#pragma once

#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace server_test {

struct server_process {
  pid_t pid = -1;
  unsigned port = 0;

  /// Starts the server built at $LARDER_SERVER with `args` and waits for its port file.
  static server_process start(const std::filesystem::path& dir, std::vector<std::string> args) {
    const char* exe = std::getenv("LARDER_SERVER");
    if (!exe) throw std::runtime_error("LARDER_SERVER is not set");
    auto port_file = dir / "port";
    std::filesystem::remove(port_file);
    std::vector<std::string> all = {
        exe,           "--listen",        "127.0.0.1:0", "--dir", (dir / "cache").string(),
        "--port-file", port_file.string()};
    all.insert(all.end(), args.begin(), args.end());
    server_process p;
    p.pid = fork();
    if (p.pid == 0) {
      std::vector<char*> argv;
      for (auto& a : all)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(exe, argv.data());
      _exit(127);
    }
    for (int i = 0; i < 500 && !std::filesystem::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::ifstream in(port_file);
    in >> p.port;
    if (p.port == 0) throw std::runtime_error("larder-server did not start");
    return p;
  }

  /// Sends `sig` and waits; returns the exit status (or 128 + signal).
  int stop(int sig = SIGTERM) {
    if (pid <= 0) return -1;
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  ~server_process() { stop(SIGKILL); }
  server_process() = default;
  server_process(server_process&& o) noexcept : pid(o.pid), port(o.port) { o.pid = -1; }
};

struct http_response {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string header(const std::string& lower) const {
    for (auto& [k, v] : headers)
      if (k == lower) return v;
    return {};
  }
};

class connection {
 public:
  explicit connection(unsigned port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("cannot connect to larder-server");
    }
  }
  ~connection() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }
  /// The next response, or status 0 when the connection closed (or `timeout` passed) first.
  http_response read(std::chrono::milliseconds timeout = std::chrono::seconds(10),
                     bool head_request = false) {
    http_parser parser;
    http_parser_init(&parser, HTTP_RESPONSE);
    http_parser_settings s;
    http_parser_settings_init(&s);
    struct ctx {
      http_response r;
      bool done = false;
      bool in_value = false;
      bool head = false;
    } c;
    c.head = head_request;
    parser.data = &c;
    s.on_header_field = [](http_parser* p, const char* at, size_t n) {
      auto& c = *static_cast<ctx*>(p->data);
      if (c.r.headers.empty() || c.in_value) c.r.headers.emplace_back();
      c.in_value = false;
      for (size_t i = 0; i < n; ++i)
        c.r.headers.back().first += char(std::tolower(at[i]));
      return 0;
    };
    s.on_header_value = [](http_parser* p, const char* at, size_t n) {
      auto& c = *static_cast<ctx*>(p->data);
      c.in_value = true;
      c.r.headers.back().second.append(at, n);
      return 0;
    };
    s.on_headers_complete = [](http_parser* p) {
      auto& c = *static_cast<ctx*>(p->data);
      c.r.status = static_cast<int>(p->status_code);
      return c.head ? 1 : 0;  // a HEAD answer has no body whatever its length says
    };
    s.on_body = [](http_parser* p, const char* at, size_t n) {
      static_cast<ctx*>(p->data)->r.body.append(at, n);
      return 0;
    };
    s.on_message_complete = [](http_parser* p) {
      static_cast<ctx*>(p->data)->done = true;
      http_parser_pause(p, 1);
      return 0;
    };
    auto until = std::chrono::steady_clock::now() + timeout;
    while (!c.done) {
      if (pending_.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        pollfd p{fd_, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
          return {};
        }
        char buf[65536];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return {};
        pending_.assign(buf, static_cast<std::size_t>(n));
      }
      std::size_t used = http_parser_execute(&parser, &s, pending_.data(), pending_.size());
      pending_.erase(0, used);
      if (HTTP_PARSER_ERRNO(&parser) != HPE_OK && HTTP_PARSER_ERRNO(&parser) != HPE_PAUSED) {
        return {};
      }
    }
    return c.r;
  }
  /// True when the server closed the connection (reads end of stream within `timeout`).
  bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    if (!pending_.empty()) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char c;
    return ::recv(fd_, &c, 1, 0) <= 0;
  }

 private:
  int fd_ = -1;
  std::string pending_;
};

/// One request on a fresh connection.
inline http_response request(unsigned port, const std::string& method, const std::string& path,
                             const std::string& body = {}, const std::string& extra = {}) {
  connection c(port);
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: t\r\n" + extra;
  if (method == "PUT") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  c.send(req);
  return c.read(std::chrono::seconds(10), method == "HEAD");
}

}  // namespace server_test
