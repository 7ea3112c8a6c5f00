// io_engine::read_nowait: reads what the page cache holds like read(), but where read()
// would wait (here: a FIFO planted where a cache file should be, its writer silent) it fails
// at once (EAGAIN, or EOPNOTSUPP where pipes cannot honour RWF_NOWAIT). A regression here hangs the
// test until meson's timeout.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <string>

#include "larder/io_engine.hpp"
#include "support/disk_fixture.hpp"
#include "support/io_runner.hpp"

using namespace larder;

TEST_CASE("io_engine::read_nowait fails at once on a FIFO whose writer is silent", "[io]") {
  const auto backend = GENERATE(io_backend::io_uring, io_backend::thread_pool);
  testing::temp_dir dir;
  const auto fifo = dir.path() + "/fifo";
  const auto file = dir.path() + "/file";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(reader >= 0);
  const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);  // held open, silent
  REQUIRE(writer >= 0);
  const int regular = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(regular >= 0);
  REQUIRE(::write(regular, "payload", 7) == 7);

  testing::io_runner runner;
  auto engine = testing::make_engine(runner.context(), backend);
  std::error_code fifo_error;
  std::string regular_bytes;
  runner.run([&]() -> asio::awaitable<void> {
    auto from_fifo = co_await engine->read_nowait(reader, 16, 0);
    fifo_error = from_fifo.error();
    auto from_file = co_await engine->read_nowait(regular, 16, 0);
    if (from_file) regular_bytes = std::string(std::move(*from_file).freeze().view());
  });
  // EAGAIN, or EOPNOTSUPP where the kernel's pipes cannot honour RWF_NOWAIT: either way an
  // error at once, never a wait.
  const bool refused = fifo_error == std::error_code(EAGAIN, std::system_category()) ||
                       fifo_error == std::error_code(EOPNOTSUPP, std::system_category());
  CHECK(refused);
  CHECK(regular_bytes == "payload");  // short only at end of file, as read()
  engine.reset();
  ::close(reader);
  ::close(writer);
  ::close(regular);
}
