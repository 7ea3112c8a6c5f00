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
  bool dep_wanted = false, explicit_target = false;
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
    // A dependency file written beside the object (what make, CMake and Ninja ask for):
    // cached with the object and restored on a hit. Kept out of the preprocessor run,
    // which would otherwise write it too.
    if (arg == "-MD" || arg == "-MMD" || arg == "-MP") {
      if (arg != "-MP") dep_wanted = true;
      c.key_args.push_back(arg);
      continue;
    }
    if (arg == "-MF" || arg == "-MT" || arg == "-MQ" ||
        ((arg.starts_with("-MF") || arg.starts_with("-MT") || arg.starts_with("-MQ")) &&
         arg.size() > 3)) {
      std::string flag = arg.substr(0, 3), value;
      if (arg.size() > 3) {
        value = arg.substr(3);
      } else if (i + 1 == args.size()) {
        out.reason = "option " + arg + " lacks its value";
        return out;
      } else {
        value = args[++i];
      }
      if (flag == "-MF") {
        c.dep_file = value;  // where it goes does not change its bytes
        continue;
      }
      c.key_args.push_back(flag);
      c.key_args.push_back(value);
      explicit_target = true;
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
  if (!dep_wanted && !c.dep_file.empty()) {
    out.reason = "-MF without -MD or -MMD";
    return out;
  }
  if (dep_wanted) {
    // gcc's default: the object's name with its suffix replaced by .d.
    if (c.dep_file.empty()) c.dep_file = c.output.substr(0, c.output.rfind('.')) + ".d";
    // Without -MT or -MQ the file's target is the object path, so the path is part of
    // what the value holds.
    if (!explicit_target) {
      c.key_args.push_back("-o");
      c.key_args.push_back(c.output);
    }
  }
  c.preprocess_args.push_back("-E");
  c.preprocess_args.push_back(c.source);
  out.compile = std::move(c);
  return out;
}

}  // namespace compile_cache
