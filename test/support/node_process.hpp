// A child process running test/redis_node (built next to the test executables), spoken
// to by lines over pipes.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace larder::testing {

class node_process {
 public:
  node_process(std::uint16_t port, const std::string& name_space, const std::string& node_id) {
    const auto exe = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "redis_node";
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::close(to_child[1]);
      ::close(from_child[0]);
      const std::string p = std::to_string(port);
      ::execl(exe.c_str(), exe.c_str(), p.c_str(), name_space.c_str(), node_id.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    in_ = ::fdopen(to_child[1], "w");
    out_ = ::fdopen(from_child[0], "r");
  }
  ~node_process() {
    if (in_) {
      std::fputs("quit\n", in_);
      std::fclose(in_);
    }
    if (out_) std::fclose(out_);
    int status = 0;
    if (pid_ > 0) ::waitpid(pid_, &status, 0);
  }
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// Sends one command and returns its one-line answer ("" if the child died).
  std::string ask(const std::string& command) {
    std::fputs((command + "\n").c_str(), in_);
    std::fflush(in_);
    char* line = nullptr;
    std::size_t capacity = 0;
    const auto n = ::getline(&line, &capacity, out_);
    std::string answer = n > 0 ? std::string(line, static_cast<std::size_t>(n)) : std::string();
    std::free(line);
    if (!answer.empty() && answer.back() == '\n') answer.pop_back();
    return answer;
  }

 private:
  pid_t pid_ = -1;
  std::FILE* in_ = nullptr;
  std::FILE* out_ = nullptr;
};

}  // namespace larder::testing
