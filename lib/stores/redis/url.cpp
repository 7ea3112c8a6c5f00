// parse_redis_url: the URL forms of the Redis ecosystem, without any I/O.
#include <charconv>
#include <system_error>

#include "larder/error.hpp"
#include "larder/redis_connection.hpp"

namespace larder {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in`; false on a malformed escape.
bool decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

template <class T>
bool number(std::string_view text, T max, T& out) {
  if (text.empty() || text.size() > 10) return false;
  unsigned long long v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v > max) return false;
  out = static_cast<T>(v);
  return true;
}

struct parser {
  redis_connection_options out;
  std::string error;
  bool db_seen = false;

  bool fail(std::string why) {
    error = std::move(why);
    return false;
  }

  bool set_db(std::string_view text, const char* where) {
    if (db_seen) return fail("database given twice (path and ?db=)");
    db_seen = true;
    if (!number<unsigned>(text, 2'147'483'647u, out.db))
      return fail("database '" + std::string(text) + "' " + where +
                  " is not a number from 0 to 2147483647");
    return true;
  }

  bool userinfo(std::string_view info) {
    const auto colon = info.find(':');
    const auto user = info.substr(0, colon);
    if (!decode(user, out.user)) return fail("malformed %-escape in the user name");
    if (colon != std::string_view::npos && !decode(info.substr(colon + 1), out.password))
      return fail("malformed %-escape in the password");
    if (out.user.empty() && out.password.empty())
      return fail("'@' with neither a user nor a password before it");
    return true;
  }

  bool query(std::string_view q) {
    while (!q.empty()) {
      const auto amp = q.find('&');
      const auto item = q.substr(0, amp);
      q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
      const auto eq = item.find('=');
      if (eq == std::string_view::npos)
        return fail("query parameter '" + std::string(item) + "' has no '=value'");
      const auto name = item.substr(0, eq), value = item.substr(eq + 1);
      if (name == "db") {
        if (!set_db(value, "in ?db=")) return false;
      } else if (name == "user") {
        if (!decode(value, out.user)) return fail("malformed %-escape in ?user=");
      } else if (name == "password") {
        if (!decode(value, out.password)) return fail("malformed %-escape in ?password=");
      } else {
        return fail("unknown query parameter '" + std::string(name) +
                    "' (known: db, user, password)");
      }
    }
    return true;
  }

  bool host_port(std::string_view hp) {
    std::string_view host, port;
    if (!hp.empty() && hp.front() == '[') {
      const auto close = hp.find(']');
      if (close == std::string_view::npos)
        return fail("IPv6 host '" + std::string(hp) + "' has no closing ']'");
      host = hp.substr(1, close - 1);
      const auto rest = hp.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':')
          return fail("unexpected '" + std::string(rest) + "' after the IPv6 host");
        port = rest.substr(1);
        if (port.empty()) return fail("empty port after ':'");
      }
    } else {
      const auto colon = hp.find(':');
      host = hp.substr(0, colon);
      if (colon != std::string_view::npos) {
        port = hp.substr(colon + 1);
        if (port.empty()) return fail("empty port after ':'");
      }
    }
    if (host.empty()) return fail("no host");
    out.host = std::string(host);
    if (!port.empty()) {
      std::uint16_t p = 0;
      if (!number<std::uint16_t>(port, 65535, p) || p == 0)
        return fail("port '" + std::string(port) + "' is not a number from 1 to 65535");
      out.port = p;
    }
    return true;
  }

  bool parse(std::string_view url) {
    if (url.empty()) return fail("empty URL");
    if (url.find_first_of(" \t\r\n#") != std::string_view::npos)
      return fail("URL contains whitespace or a '#' fragment");
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos)
      return fail("no scheme: expected redis://, rediss:// or unix://");
    const auto scheme = url.substr(0, scheme_end);
    auto rest = url.substr(scheme_end + 3);
    std::string_view q;
    if (const auto mark = rest.find('?'); mark != std::string_view::npos) {
      q = rest.substr(mark + 1);
      rest = rest.substr(0, mark);
    }
    if (scheme == "unix") {
      // unix://[user[:password]@]/absolute/path
      if (const auto at = rest.find('@'); at != std::string_view::npos) {
        if (!userinfo(rest.substr(0, at))) return false;
        rest = rest.substr(at + 1);
      }
      if (rest.empty()) return fail("no socket path after unix://");
      if (rest.front() != '/')
        return fail("socket path '" + std::string(rest) + "' is not absolute (unix:///path)");
      if (rest.back() == '/') return fail("socket path '" + std::string(rest) + "' is a directory");
      out.unix_path = std::string(rest);
      return query(q);
    }
    if (scheme == "rediss")
      out.tls.enabled = true;
    else if (scheme != "redis")
      return fail("unknown scheme '" + std::string(scheme) +
                  "' (expected redis://, rediss:// or unix://)");
    // The authority ends at the first '/': user info may hold ':' but no '/' unescaped.
    const auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
      if (!userinfo(authority.substr(0, at))) return false;
      authority = authority.substr(at + 1);
    }
    if (!host_port(authority)) return false;
    if (slash != std::string_view::npos) {
      const auto path = rest.substr(slash + 1);
      if (!path.empty() && !set_db(path, "in the path")) return false;
    }
    return query(q);
  }
};

}  // namespace

redis_url_parse parse_redis_url(std::string_view url) {
  parser p;
  redis_url_parse result;
  if (p.parse(url))
    result.connection = std::move(p.out);
  else
    result.error = "redis URL: " + p.error;
  return result;
}

void apply_redis_url(redis_connection_options& options) {
  if (options.url.empty()) return;
  auto parsed = parse_redis_url(options.url);
  if (!parsed) throw std::system_error(make_error_code(errc::invalid_argument), parsed.error);
  const auto& c = *parsed.connection;
  options.host = c.host;
  options.port = c.port;
  options.unix_path = c.unix_path;
  options.user = c.user;
  options.password = c.password;
  options.db = c.db;
  options.tls.enabled = c.tls.enabled;
}

std::string describe_endpoint(const redis_connection_options& options) {
  std::string out;
  if (!options.unix_path.empty()) {
    out = "unix:" + options.unix_path;
  } else {
    const bool v6 = options.host.find(':') != std::string::npos;
    out = v6 ? "[" + options.host + "]" : options.host;
    out += ":" + std::to_string(options.port);
  }
  if (options.tls.enabled) out += " (tls)";
  return out;
}

}  // namespace larder
