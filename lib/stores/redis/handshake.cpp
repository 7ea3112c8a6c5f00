#include "stores/redis/handshake.hpp"

namespace larder::redis {

const char* step_name(step s) noexcept {
  switch (s) {
    case step::connect:
      return "connect";
    case step::tls:
      return "tls handshake";
    case step::auth:
      return "auth";
    case step::select:
      return "select";
    case step::policy:
      return "maxmemory-policy check";
    case step::function_load:
      return "function load";
    case step::subscribe:
      return "subscribe";
    case step::command:
      return "command";
  }
  return "?";
}

std::vector<setup_command> plan_setup(const redis_connection_options& options,
                                      const setup_wants& wants) {
  std::vector<setup_command> out;
  if (!options.user.empty()) {
    // An ACL user; a user without a password (nopass) accepts any, so send an empty one.
    out.push_back(
        {step::auth, command(3).arg("AUTH").arg(options.user).arg(options.password).take()});
  } else if (!options.password.empty()) {
    out.push_back({step::auth, command(2).arg("AUTH").arg(options.password).take()});
  }
  if (wants.select && options.db != 0)
    out.push_back(
        {step::select, command(2).arg("SELECT").arg(static_cast<long long>(options.db)).take()});
  if (wants.check_policy)
    out.push_back(
        {step::policy, command(3).arg("CONFIG").arg("GET").arg("maxmemory-policy").take()});
  if (!wants.function_library.empty())
    out.push_back(
        {step::function_load,
         command(4).arg("FUNCTION").arg("LOAD").arg("REPLACE").arg(wants.function_library).take()});
  return out;
}

namespace {

std::string text_of(const reply& r) {
  return std::string(r.bytes.view());
}

verdict policy_verdict(const reply& r, const setup_wants& wants) {
  if (r.type == reply::kind::error)
    return {verdict::kind::note,
            "CONFIG GET refused (" + text_of(r) + "): the eviction policy was not checked"};
  // RESP2: a flat array of name, value.
  if (r.type != reply::kind::array || r.elements.size() != 2 ||
      r.elements[1].type != reply::kind::string)
    return {verdict::kind::note, "CONFIG GET maxmemory-policy gave no policy: not checked"};
  const std::string policy = text_of(r.elements[1]);
  if (policy.rfind("allkeys-", 0) == 0 && !wants.accept_allkeys)
    return {verdict::kind::refuse,
            "maxmemory-policy is " + policy +
                ": at maxmemory Redis may evict the namespace's index, after which "
                "invalidate_prefix cannot find the values it covers (stale reads); use "
                "noeviction or a volatile-* policy, or set accept_allkeys_eviction"};
  return {};
}

}  // namespace

verdict judge(step s, const reply& r, const setup_wants& wants) {
  if (r.fault) return {verdict::kind::refuse, r.fault.message()};
  // Not logged in (no password given to a server that wants one): nothing on this
  // connection will work, whatever the step.
  if (r.type == reply::kind::error &&
      (r.bytes.view().rfind("NOAUTH", 0) == 0 || r.bytes.view().rfind("WRONGPASS", 0) == 0))
    return {verdict::kind::refuse, text_of(r)};
  switch (s) {
    case step::policy:
      return policy_verdict(r, wants);
    case step::function_load:
      // Without the library puts fail (their own error says so), but gets still work.
      if (r.type == reply::kind::error) return {verdict::kind::note, text_of(r)};
      return {};
    default:
      if (r.type == reply::kind::error) return {verdict::kind::refuse, text_of(r)};
      return {};
  }
}

std::string describe_error(step s, std::string_view endpoint, std::string_view text) {
  std::string out = step_name(s);
  out += " on ";
  out += endpoint;
  out += ": ";
  out += text;
  return out;
}

errc classify_command_error(std::string_view server_text) noexcept {
  if (server_text.rfind("OOM", 0) == 0) return errc::no_space;
  return errc::remote_error;
}

}  // namespace larder::redis
