// What a compiler command line asks for, and whether compile_cache may answer it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace compile_cache {

/// A single-source compile to an object file that the cache can serve.
struct cacheable_compile {
  std::string source;                        ///< the one source file
  std::string output;                        ///< the object file (from -o, else <stem>.o)
  std::vector<std::string> key_args;         ///< every argument but the output path, in order
  std::vector<std::string> preprocess_args;  ///< the same flags with -E instead of -c and -o
  bool debug_info = false;                   ///< -g*: the object records the working directory
  /// With -MD or -MMD: the dependency file the compile writes (-MF, else the object's
  /// name with .d), cached with the object. Empty: none.
  std::string dep_file;
};

/// The compile, or why not (a reason for --verbose and tests): linking, no -c, several or
/// no sources, stdin, an option that writes other files or reads files the preprocessor
/// output does not capture (-M and -MM without a compile, profiling, plugins, response
/// files, modules), or an unknown option. -MD / -MMD with -MF, -MT, -MQ, -MP are cached.
struct analysis {
  std::optional<cacheable_compile> compile;
  std::string reason;
};

analysis analyse(const std::vector<std::string>& args);

}  // namespace compile_cache
