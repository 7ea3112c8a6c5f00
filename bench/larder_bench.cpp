// larder-bench: the workload driver. Opens a store from the backend table, runs a
// precomputed trace of gets (with cache-aside fills), puts and invalidations on several
// threads of coroutines, and reports throughput, hit ratios per tier, latency
// percentiles, evictions, I/O and flushes; optionally the same trace on a baseline.
#include <signal.h>
#include <stdlib.h>

#include <asio/post.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "larder_bench/backends.hpp"
#include "larder_bench/options.hpp"
#include "larder_bench/probe.hpp"
#include "larder_bench/progress.hpp"
#include "larder_bench/report.hpp"
#include "larder_bench/runner.hpp"
#include "larder_bench/runtime.hpp"
#include "larder_bench/workload.hpp"

namespace bench = larder::bench;

namespace {

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) {
  interrupted.store(true);
}

// The first Ctrl-C ends the run early, still reporting and removing the temporary
// directory; a second one (SA_RESETHAND) kills the process the usual way.
void catch_interrupts() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// A fresh directory under $TMPDIR (or /tmp), removed with its contents at scope exit.
class temp_directory {
 public:
  temp_directory() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base && *base == '/' ? base : "/tmp") + "/larder-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::system_error(errno, std::system_category(), "mkdtemp " + pattern);
    path_ = pattern;
  }
  ~temp_directory() {
    // A disk tier leaves tens of thousands of files in 256 fan-out directories
    // (path/cache/xx/); unlinking them from one thread takes seconds, so the fan-out
    // directories go in parallel first.
    namespace fs = std::filesystem;
    std::vector<fs::path> leaves;
    std::error_code ec;
    for (const auto& top : fs::directory_iterator(path_, ec))
      if (top.is_directory(ec))
        for (const auto& leaf : fs::directory_iterator(top.path(), ec))
          if (leaf.is_directory(ec)) leaves.push_back(leaf.path());
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> removers;
    for (unsigned i = 0; i < 4 && i < leaves.size(); ++i)
      removers.emplace_back([&] {
        std::error_code ignored;
        for (std::size_t at; (at = next.fetch_add(1)) < leaves.size();)
          fs::remove_all(leaves[at], ignored);
      });
    for (auto& r : removers)
      r.join();
    fs::remove_all(path_, ec);
  }
  temp_directory(const temp_directory&) = delete;
  temp_directory& operator=(const temp_directory&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// The store must go on thread 0: the io engine's ring lives on that thread's context.
void close_store(bench::runtime& rt, std::optional<larder::any_store>& store) {
  std::promise<void> closed;
  asio::post(rt.context(0), [&closed, &store] {
    store.reset();
    closed.set_value();
  });
  closed.get_future().wait();
}

// Opens `name`, warms it up, runs the measured phase, and closes it. nullopt (after
// saying why on stderr) when the backend cannot be opened. `temps` receives the temporary
// directory, if one is made: removing tens of thousands of files takes seconds, so the
// caller does it after the report is out.
std::optional<bench::run_report> run_backend(bench::runtime& rt, const bench::bench_config& c,
                                             const bench::workload& w, const std::string& name,
                                             const std::string& dir,
                                             std::vector<std::unique_ptr<temp_directory>>& temps) {
  const bench::backend_entry* entry = bench::find_backend(name);
  bench::backend_setup setup{rt.context(0), c, {}};
  if (entry->uses_directory) {
    if (dir.empty())
      setup.root = temps.emplace_back(std::make_unique<temp_directory>())->path() + "/cache";
    else
      setup.root = std::filesystem::absolute(dir).lexically_normal().string();
  }
  bench::opened_backend opened = rt.run_on(0, [&] { return entry->open(setup); });
  if (!opened.store) {
    std::fprintf(stderr, "larder-bench: %s: %s\n", name.c_str(), opened.error.c_str());
    return std::nullopt;
  }
  larder::any_store& store = *opened.store;
  const bool tty = bench::progress_display::stderr_is_tty();
  std::vector<std::uint64_t> cursors;
  bench::run_report report;
  report.backend = name;
  report.description = opened.description;
  if (c.warmup_ops || c.warmup_s > 0) {
    bench::progress_display progress(name + " warm-up", tty);
    const bench::phase_spec spec{c.warmup_ops, c.warmup_s, "warm-up"};
    const auto warm = bench::run_phase(rt, store, w, c, spec, cursors, interrupted,
                                       c.progress ? &progress : nullptr);
    report.warmup_ops = warm.stats.ops;
  }
  const bench::store_probe before = bench::probe(store);
  bench::progress_display progress(name, tty);
  const bench::phase_spec spec{c.ops, c.duration_s, name};
  report.phase = bench::run_phase(rt, store, w, c, spec, cursors, interrupted,
                                  c.progress ? &progress : nullptr);
  report.store = bench::delta(bench::probe(store), before);
  report.counts_evictions = opened.counts_evictions;
  if (opened.clear_on_close) {
    const larder::result<std::uint64_t> cleared =
        rt.run_on(0, [&store] { return store.invalidate_prefix(""); });
    if (!cleared)
      std::fprintf(stderr, "larder-bench: %s: could not remove this run's entries: %s\n",
                   name.c_str(), cleared.error().message().c_str());
  }
  close_store(rt, opened.store);
  return report;
}

// Internal consistency of a run: what must hold whatever the store did. Returns the
// problems found, one per line.
std::string check(const bench::bench_config& c, const bench::run_report& r) {
  const bench::run_stats& s = r.phase.stats;
  std::string problems;
  if (c.ops && !r.phase.interrupted && s.ops != c.ops)
    problems +=
        "  ran " + std::to_string(s.ops) + " ops, " + std::to_string(c.ops) + " requested\n";
  if (s.hits + s.misses + s.get_faults != s.gets) problems += "  hits + misses + faults != gets\n";
  if (s.wrong_values)
    problems +=
        "  " + std::to_string(s.wrong_values) + " hits returned bytes other than the key's value\n";
  if (s.faults() > s.wrong_values)
    problems += "  " + std::to_string(s.faults() - s.wrong_values) +
                " faults (first: " + s.first_error + ")\n";
  return problems;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = bench::parse_command_line(argc, argv);
  if (!parsed.config) return parsed.exit_code;
  const bench::bench_config& c = *parsed.config;
  for (const std::string* name : {&c.backend, &c.compare}) {
    if (name->empty() || bench::find_backend(*name)) continue;
    std::fprintf(stderr, "larder-bench: unknown backend '%s'; available: %s\n", name->c_str(),
                 bench::backend_names().c_str());
    return 2;
  }
  catch_interrupts();

  try {
    if (c.progress) std::fprintf(stderr, "larder-bench: generating traces...\n");
    const bench::workload w(c);
    bench::runtime rt(c.threads);
    FILE* out = c.json ? stderr : stdout;
    if (!c.json) std::fprintf(out, "larder-bench: %s\n", bench::describe_workload(c, w).c_str());

    std::vector<std::unique_ptr<temp_directory>> temps;
    auto primary = run_backend(rt, c, w, c.backend, c.dir, temps);
    if (!primary) return 1;
    if (!c.json) print_run(out, c, *primary);
    std::optional<bench::run_report> baseline;
    if (!c.compare.empty() && !interrupted) {
      // A baseline with a disk tier gets its own directory beside --dir, never the same.
      baseline = run_backend(rt, c, w, c.compare,
                             c.dir.empty() ? std::string() : c.dir + ".compare", temps);
      if (!baseline) return 1;
      if (!c.json) {
        print_run(out, c, *baseline);
        print_comparison(out, *primary, *baseline);
      }
    }
    if (c.json)
      std::printf("%s\n",
                  bench::json_report(c, w, *primary, baseline ? &*baseline : nullptr).c_str());
    else
      print_summary(out, c, *primary);

    std::fflush(stdout);
    for (auto& temp : temps) {
      if (c.progress) std::fprintf(stderr, "larder-bench: removing %s\n", temp->path().c_str());
      temp.reset();
    }

    std::string problems = check(c, *primary);
    if (baseline) problems += check(c, *baseline);
    if (!problems.empty()) {
      std::fprintf(stderr, "larder-bench: FAILED\n%s", problems.c_str());
      return 1;
    }
    return interrupted ? 130 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "larder-bench: %s\n", e.what());
    return 1;
  }
}
