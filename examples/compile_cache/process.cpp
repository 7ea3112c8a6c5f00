#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

extern char** environ;

namespace compile_cache {

namespace {

struct pipe_pair {
  int read = -1, write = -1;
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    read = fds[0];
    write = fds[1];
    return true;
  }
};

}  // namespace

run_result run(const std::vector<std::string>& argv, bool capture_out, bool capture_err) {
  run_result result;
  pipe_pair out, err;
  if ((capture_out && !out.open()) || (capture_err && !err.open())) {
    result.error = {errno, std::system_category()};
    return result;
  }
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  // dup2 clears FD_CLOEXEC on the copy: the child keeps only fds 1 and 2 of the pipes.
  if (capture_out) ::posix_spawn_file_actions_adddup2(&actions, out.write, 1);
  if (capture_err) ::posix_spawn_file_actions_adddup2(&actions, err.write, 2);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  for (int fd : {out.write, err.write})
    if (fd >= 0) ::close(fd);
  if (rc != 0) {
    for (int fd : {out.read, err.read})
      if (fd >= 0) ::close(fd);
    result.error = {rc, std::system_category()};
    return result;
  }
  // Both pipes together: a compiler that fills stderr while we wait on stdout cannot stall.
  pollfd fds[2] = {{out.read, POLLIN, 0}, {err.read, POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open = (out.read >= 0) + (err.read >= 0);
  while (open > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      result.error = {errno, std::system_category()};
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[1 << 16];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& p : fds)
    if (p.fd >= 0) ::close(p.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      result.error = {errno, std::system_category()};
      return result;
    }
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace compile_cache
