// A connection's setup, without I/O: the commands sent before any request (AUTH,
// SELECT, the eviction policy check, FUNCTION LOAD) and the verdict on each reply.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "larder/error.hpp"
#include "larder/redis_connection.hpp"
#include "stores/redis/reply.hpp"

namespace larder::redis {

// The steps an error names, in the order a connection goes through them.
enum class step : unsigned char {
  connect,
  tls,
  auth,
  select,
  policy,
  function_load,
  subscribe,
  command,
};
const char* step_name(step s) noexcept;

struct setup_command {
  step what;
  std::string text;  // RESP
};

// What a connection wants beyond logging in.
struct setup_wants {
  bool select = true;         // SELECT options.db when not 0 (pub/sub does not care)
  bool check_policy = false;  // CONFIG GET maxmemory-policy: refuse allkeys-*
  bool accept_allkeys = false;
  std::string function_library;  // FUNCTION LOAD REPLACE of this source, when not empty
};

std::vector<setup_command> plan_setup(const redis_connection_options& options,
                                      const setup_wants& wants);

struct verdict {
  enum class kind : unsigned char {
    ok,
    note,    // not fatal, but counted and recorded (a check that could not be made)
    refuse,  // the connection is unusable: close it, back off, report `text`
  };
  kind what = kind::ok;
  std::string text;  // the server's words, or why the answer is refused
};

verdict judge(step s, const reply& r, const setup_wants& wants);

// "<step> on <endpoint>: <text>": how every recorded error reads.
std::string describe_error(step s, std::string_view endpoint, std::string_view text);

// The larder code for an error reply to a command: OOM (maxmemory reached under
// noeviction) is errc::no_space, everything else errc::remote_error.
errc classify_command_error(std::string_view server_text) noexcept;

}  // namespace larder::redis
