// compile_cache's text rules as tables: sizes, management options, colour stripping.
#include "settings.hpp"

#include <catch2/catch.hpp>

using compile_cache::management;
using compile_cache::parse_management;
using compile_cache::parse_size;

TEST_CASE("compile_cache sizes are read as people write them", "[unit]") {
  struct row {
    const char* text;
    std::optional<std::uint64_t> bytes;
  };
  const std::vector<row> table = {
      {"5G", 5ull << 30},    {"5GiB", 5ull << 30},
      {"5g", 5ull << 30},    {"500M", 500ull << 20},
      {"64K", 64ull << 10},  {"64KB", 64ull << 10},
      {"1.5G", 3ull << 29},  {"1048576", 1048576},
      {"2T", 2ull << 40},    {"12B", 12},
      {"", std::nullopt},    {"G", std::nullopt},
      {"5X", std::nullopt},  {"-5G", std::nullopt},
      {"5 G", std::nullopt}, {"1.2.3", std::nullopt},
      {"5GG", std::nullopt}, {"99999999999T", std::nullopt},
  };
  for (const auto& r : table) {
    INFO(r.text);
    CHECK(parse_size(r.text) == r.bytes);
  }
}

TEST_CASE("compile_cache management options, and what is not a compiler", "[unit]") {
  using action = management::action;
  CHECK_FALSE(parse_management({"gcc", "-c", "x.c"}).has_value());
  CHECK_FALSE(parse_management({}).has_value());
  struct row {
    std::vector<std::string> args;
    action what;
    std::uint64_t size;
    const char* error;  // a substring of the error, or empty
  };
  const std::vector<row> table = {
      {{"-s"}, action::stats, 0, ""},
      {{"--stats"}, action::stats, 0, ""},
      {{"-z"}, action::zero_stats, 0, ""},
      {{"-C"}, action::clear, 0, ""},
      {{"-M", "5G"}, action::max_size, 5ull << 30, ""},
      {{"--max-size", "100M"}, action::max_size, 100ull << 20, ""},
      {{"-M"}, action::max_size, 0, "takes one size"},
      {{"-M", "lots"}, action::max_size, 0, "'lots' is not a size"},
      {{"-M", "0"}, action::max_size, 0, "'0' is not a size"},
      {{"-s", "extra"}, action::stats, 0, "takes no further arguments"},
      {{"-q"}, action::help, 0, "unknown option -q"},
  };
  for (const auto& r : table) {
    INFO(r.args[0] << (r.args.size() > 1 ? " " + r.args[1] : std::string()));
    const auto m = parse_management(r.args);
    REQUIRE(m.has_value());
    if (*r.error) {
      CHECK(m->error.find(r.error) != std::string::npos);
    } else {
      CHECK(m->error.empty());
      CHECK(m->what == r.what);
      CHECK(m->size == r.size);
    }
  }
}

TEST_CASE("compile_cache strips colour for a stderr that is not a terminal", "[unit]") {
  CHECK(compile_cache::strip_colour("\x1b[01m\x1b[Kx.c:1:5:\x1b[m\x1b[K \x1b[01;35mwarning: "
                                    "\x1b[m\x1b[Kunused") == "x.c:1:5: warning: unused");
  CHECK(compile_cache::strip_colour("plain text\n") == "plain text\n");
  CHECK(compile_cache::strip_colour("\x1b[") == "");
  CHECK(compile_cache::wants_colour({"-fdiagnostics-color=never"}) == false);
}
