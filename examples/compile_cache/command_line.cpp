#include "command_line.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace compile_cache {

namespace {

bool starts_with_any(std::string_view arg, std::initializer_list<std::string_view> prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [arg](std::string_view p) { return arg.starts_with(p); });
}

bool is_source(std::string_view arg) {
  static constexpr std::array<std::string_view, 7> extensions = {".c",   ".cc", ".cpp", ".cxx",
                                                                 ".c++", ".C",  ".CPP"};
  const auto dot = arg.rfind('.');
  if (dot == std::string_view::npos) return false;
  const auto ext = arg.substr(dot);
  return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
}

// Options whose value is the next argument; all only shape the preprocessed text, which is
// hashed, or name directories the preprocessor reads.
bool takes_value(std::string_view arg) {
  return arg == "-I" || arg == "-D" || arg == "-U" || arg == "-isystem" || arg == "-iquote" ||
         arg == "-idirafter" || arg == "-include" || arg == "-imacros" || arg == "-o";
}

// Options that write a second output, read inputs the preprocessed text does not show, or
// change what the driver does: the cache cannot reproduce their effect.
bool unsafe(std::string_view arg) {
  return starts_with_any(
      arg, {"-M", "-Wp,", "-Xpreprocessor", "-Xassembler", "-Wa,", "-Xlinker", "-Wl,", "-fprofile",
            "-fauto-profile", "-fplugin", "-fdump", "-fstack-usage", "-fcallgraph-info",
            "-ftest-coverage", "--coverage", "-save-temps", "-specs", "-B", "-x", "@", "-E", "-S",
            "-###", "-v", "--help", "--version", "-fsyntax-only", "-flto", "-split-dwarf",
            "-gsplit-dwarf", "-frandom-seed",
            // C++ modules read and write compiled module interfaces
            // that the preprocessed text does not show.
            "-fmodule"});
}

// Options known to affect only the compile itself (and so are hashed as arguments).
bool known_safe(std::string_view arg) {
  return starts_with_any(
             arg, {"-O", "-g", "-W", "-f", "-m", "-D", "-U", "-I", "-std=", "-pedantic", "-isystem",
                   "-iquote", "-idirafter", "-include", "-imacros", "--std="}) ||
         arg == "-w" || arg == "-ansi" || arg == "-pthread" || arg == "-pipe" ||
         arg == "-nostdinc" || arg == "-nostdinc++" || arg == "-P";
}

}  // namespace

analysis analyse(const std::vector<std::string>& args) {
  analysis out;
  cacheable_compile c;
  bool compile_only = false;
  std::vector<std::string> sources;
  bool have_output = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-c") {
      compile_only = true;
      continue;
    }
    if (arg == "-") {
      out.reason = "reads the source from stdin";
      return out;
    }
    if (arg.empty() || arg[0] != '-') {
      if (!is_source(arg)) {
        out.reason = "input '" + arg + "' is not a C or C++ source (linking?)";
        return out;
      }
      sources.push_back(arg);
      c.key_args.push_back(arg);
      continue;
    }
    if (unsafe(arg)) {
      out.reason = "option " + arg + " is not cacheable";
      return out;
    }
    if (!known_safe(arg) && arg != "-o" && !arg.starts_with("-o")) {
      out.reason = "unknown option " + arg;
      return out;
    }
    if (takes_value(arg)) {
      if (i + 1 == args.size()) {
        out.reason = "option " + arg + " lacks its value";
        return out;
      }
      const std::string& value = args[++i];
      if (arg == "-o") {
        c.output = value;
        have_output = true;
        continue;  // the output path does not change the object's bytes
      }
      c.key_args.push_back(arg);
      c.key_args.push_back(value);
      c.preprocess_args.push_back(arg);
      c.preprocess_args.push_back(value);
      continue;
    }
    if (arg.starts_with("-o")) {  // -ofoo.o
      c.output = arg.substr(2);
      have_output = true;
      continue;
    }
    if (arg.starts_with("-g") && arg != "-g0") c.debug_info = true;
    c.key_args.push_back(arg);
    c.preprocess_args.push_back(arg);
  }
  if (!compile_only) {
    out.reason = "no -c (a link or a full build)";
    return out;
  }
  if (sources.size() != 1) {
    out.reason = sources.empty() ? "no source file" : "several source files";
    return out;
  }
  if (have_output && (c.output.empty() || c.output == "-")) {
    out.reason = "object written to stdout";
    return out;
  }
  c.source = sources.front();
  if (!have_output) {
    // gcc's default: the source's base name with .o, in the working directory.
    const auto slash = c.source.rfind('/');
    const auto base = slash == std::string::npos ? c.source : c.source.substr(slash + 1);
    c.output = base.substr(0, base.rfind('.')) + ".o";
  }
  c.preprocess_args.push_back("-E");
  c.preprocess_args.push_back(c.source);
  out.compile = std::move(c);
  return out;
}

}  // namespace compile_cache
