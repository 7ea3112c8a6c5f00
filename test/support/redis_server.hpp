// A private redis-server for a test: a free port on 127.0.0.1, its own temporary
// directory, no persistence. It can be killed (SIGKILL) and started again on the same
// port. A test executable that finds no redis-server exits 77, which meson reports as
// skipped. A server_config adds arguments (requirepass, ACL users, maxmemory), a unix
// socket in the directory, or TLS only (certificates made there with the openssl CLI).
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
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace larder::testing {

struct server_config {
  std::vector<std::string> args;  // more redis-server arguments, e.g. {"--requirepass", "pw"}
  bool unix_socket = false;       // also listen on <dir>/redis.sock
  bool tls_only = false;          // --port 0, --tls-port on port(), tls-auth-clients yes
};

class redis_server {
 public:
  explicit redis_server(server_config config = {}) : config_(std::move(config)) {
    if (!available()) {
      std::fprintf(stderr, "redis-server not found: skipping\n");
      std::exit(77);
    }
    const char* base = std::getenv("LARDER_TEST_TMP");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/larder-redis-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    if (config_.tls_only) make_certificates();
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
  const std::string& dir() const noexcept { return dir_; }
  std::string socket_path() const { return dir_ + "/redis.sock"; }
  // TLS material: the CA that signed the server's certificate, and a client certificate
  // (the same leaf: it is signed by that CA, which is all tls-auth-clients asks).
  std::string ca_file() const { return dir_ + "/ca.crt"; }
  std::string cert_file() const { return dir_ + "/leaf.crt"; }
  std::string key_file() const { return dir_ + "/leaf.key"; }
  // A CA that signed nothing here: a client trusting only it must refuse the server.
  std::string other_ca_file() const { return dir_ + "/other.crt"; }
  std::string log() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
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
    std::vector<std::string> args = {
        "redis-server", "--bind", "127.0.0.1",   "--dir", dir_,        "--save", "",
        "--appendonly", "no",     "--daemonize", "no",    "--logfile", log};
    if (config_.tls_only) {
      for (const char* a : {"--port", "0", "--tls-port"})
        args.emplace_back(a);
      args.push_back(port);
      for (auto a : {"--tls-cert-file", "leaf.crt", "--tls-key-file", "leaf.key",
                     "--tls-ca-cert-file", "ca.crt"})
        args.push_back(a[0] == '-' ? std::string(a) : dir_ + "/" + a);
    } else {
      args.push_back("--port");
      args.push_back(port);
    }
    if (config_.unix_socket) {
      args.push_back("--unixsocket");
      args.push_back(socket_path());
    }
    args.insert(args.end(), config_.args.begin(), config_.args.end());
    const bool plain = config_.args.empty() && !config_.tls_only;
    // Truncated, so that readiness below is read from this start's lines only.
    { std::ofstream truncate(log, std::ios::trunc); }
    const pid_t child = ::fork();
    if (child == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no orphaned server if the test dies
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("redis-server", argv.data());
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
      // A secured server may refuse PING without AUTH, or speak only TLS: its log says
      // when it listens.
      if (plain ? ping() : this->log().find("Ready to accept connections") != std::string::npos)
        return true;
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

  // A CA, a leaf for 127.0.0.1 / localhost signed by it, and an unrelated CA.
  void make_certificates() const {
    const std::string d = dir_;
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string script =
        "cd '" + d +
        "' && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext && "
        "openssl req -x509" +
        ec +
        "-days 2 -subj /CN=larder-test-ca -keyout ca.key -out ca.crt && "
        "openssl req" +
        ec +
        "-subj /CN=localhost -keyout leaf.key -out leaf.csr && "
        "openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile san.ext -out leaf.crt && "
        "openssl req -x509" +
        ec +
        "-days 2 -subj /CN=larder-other-ca -keyout other.key "
        "-out other.crt";
    if (std::system(("(" + script + ") >'" + d + "/openssl.log' 2>&1").c_str()) != 0)
      throw std::runtime_error("openssl could not make the test certificates: see " + d +
                               "/openssl.log");
  }

  server_config config_;
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace larder::testing
