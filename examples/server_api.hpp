#pragma once
// The OpenAI wire format for examples/server.cpp: errors as OpenAI sends them, and the checked
// reading of request parameters (each wrong type or value is a 400 naming the parameter).
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace switchyard_server {

using json = nlohmann::json;

// {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct api_error : std::exception {
  int status = 400;
  std::string message, type = "invalid_request_error", param, code;
  api_error(int s, std::string m, std::string t, std::string p = {}, std::string c = {})
      : status(s), message(std::move(m)), type(std::move(t)), param(std::move(p)), code(std::move(c)) {}
  char const* what() const noexcept override { return message.c_str(); }
};

inline api_error invalid(std::string param, std::string message, std::string code = {}) {
  return {400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

// JSON text that never throws: invalid UTF-8 in generated text becomes U+FFFD.
inline std::string dump(json const& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

inline std::string error_body(api_error const& e) {
  auto opt = [](std::string const& s) { return s.empty() ? json(nullptr) : json(s); };
  return dump(json{{"error", {{"message", e.message}, {"type", e.type}, {"param", opt(e.param)}, {"code", opt(e.code)}}}});
}

// Reads the parameters of a request body (an object), checking each one's type and range. A
// parameter that is absent or null is "not given".
class params {
 public:
  explicit params(json const& body) : j_(body) {}

  json const* get(char const* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  std::optional<bool> boolean(char const* key) const {
    json const* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) throw invalid(key, "'" + std::string(key) + "' must be a boolean, not " + shown(*v));
    return v->get<bool>();
  }

  std::optional<std::string> string(char const* key) const {
    json const* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) throw invalid(key, "'" + std::string(key) + "' must be a string, not " + shown(*v));
    return v->get<std::string>();
  }

  // A number in [lo, hi] (or (lo, hi] when lo_open).
  std::optional<double> number(char const* key, double lo, double hi, bool lo_open = false) const {
    json const* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) throw invalid(key, "'" + std::string(key) + "' must be a number, not " + shown(*v));
    double const x = v->get<double>();
    if (!std::isfinite(x) || (lo_open ? x <= lo : x < lo) || x > hi)
      throw invalid(key, "'" + std::string(key) + "' must be " + (lo_open ? "> " : ">= ") + num(lo) + " and <= " + num(hi) +
                             ", not " + shown(*v));
    return x;
  }

  // An integer in [lo, hi] (JSON integers only: 5.0 and "5" are refused).
  std::optional<std::int64_t> integer(char const* key, std::int64_t lo, std::int64_t hi) const {
    json const* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) throw invalid(key, "'" + std::string(key) + "' must be an integer, not " + shown(*v));
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      throw invalid(key, "'" + std::string(key) + "' must be <= " + std::to_string(hi) + ", not " + shown(*v));
    std::int64_t const x = v->get<std::int64_t>();
    if (x < lo || x > hi)
      throw invalid(key, "'" + std::string(key) + "' must be " + (x < lo ? ">= " + std::to_string(lo) : "<= " + std::to_string(hi)) +
                             ", not " + shown(*v));
    return x;
  }

  // A seed: any JSON integer, negative ones taken modulo 2^64.
  std::optional<std::uint64_t> seed(char const* key) const {
    json const* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) throw invalid(key, "'" + std::string(key) + "' must be an integer, not " + shown(*v));
    return v->is_number_unsigned() ? v->get<std::uint64_t>() : static_cast<std::uint64_t>(v->get<std::int64_t>());
  }

  // A string or a list of strings (stop), each non-empty, at most `most`.
  std::vector<std::string> strings(char const* key, std::size_t most) const {
    json const* v = get(key);
    std::vector<std::string> out;
    if (!v) return out;
    if (v->is_string()) {
      out.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      for (auto const& e : *v) {
        if (!e.is_string())
          throw invalid(key, "'" + std::string(key) + "' must be a string or a list of strings, not " + shown(*v));
        out.push_back(e.get<std::string>());
      }
    } else {
      throw invalid(key, "'" + std::string(key) + "' must be a string or a list of strings, not " + shown(*v));
    }
    if (out.size() > most)
      throw invalid(key, "'" + std::string(key) + "' takes at most " + std::to_string(most) + " strings, not " + std::to_string(out.size()));
    for (auto const& s : out)
      if (s.empty()) throw invalid(key, "'" + std::string(key) + "' strings must not be empty");
    return out;
  }

  // A parameter this server does not implement: refused unless absent or at its neutral value.
  void unsupported_unless(char const* key, bool neutral) const {
    if (get(key) && !neutral) throw invalid(key, "'" + std::string(key) + "' is not supported by this server");
  }

  static std::string shown(json const& v) {
    std::string s = dump(v);
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
  }

 private:
  json const& j_;
  static std::string num(double x) {
    json v = x;
    if (x == std::floor(x) && std::fabs(x) < 1e15) v = static_cast<std::int64_t>(x);
    return dump(v);
  }
};

}  // namespace switchyard_server
