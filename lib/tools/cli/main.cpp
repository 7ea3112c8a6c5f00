// larder: inspect and maintain a disk cache directory from the shell.
//   larder stats DIR | verify DIR [--repair] | gc DIR --max-bytes SIZE
//   larder get DIR KEY [-o FILE] | put DIR KEY FILE | invalidate DIR PREFIX
#include <string>

#include "tools/cli/common.hpp"

int main(int argc, char** argv) {
  using namespace larder::cli;
  CLI::App app{"larder: inspect and maintain a larder disk cache directory"};
  app.require_subcommand(1);
  app.footer(std::string(exit_code_help));
  int code = exit_ok;
  add_inspect_commands(app, code);
  add_entry_commands(app, code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and succeeds; every real parse error is a usage error (2).
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }
  return code;
}
