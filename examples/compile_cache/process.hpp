// Running the real compiler: captured (preprocessing, compiles) or passed through.
#pragma once

#include <string>
#include <system_error>
#include <vector>

namespace compile_cache {

struct run_result {
  int exit_code = -1;     ///< the child's status, 128 + signal if one ended it
  std::string out;        ///< captured stdout (when asked)
  std::string err;        ///< captured stderr (when asked)
  std::error_code error;  ///< set when the child could not be started
};

/// Runs `argv` (argv[0] searched on PATH) with posix_spawnp. stdout and stderr are read
/// through pipes when `capture_out` / `capture_err`, else inherited; stdin is inherited.
run_result run(const std::vector<std::string>& argv, bool capture_out, bool capture_err);

}  // namespace compile_cache
