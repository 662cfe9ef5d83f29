// Reading JSON that crosses improve's boundary (the RPC channel from the
// sandbox, run directories, element files) without exceptions, and writing
// text that came from a model or the sandbox without throwing on invalid
// UTF-8. The same interface as core/json.h, which helper fresh13 is adding;
// this private copy goes when that lands.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/error.h"

namespace lmlab::improve::internal {

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

template <class T>
std::string_view JsonTypeName() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, nlohmann::json>) return "a value";
  else return "an array";
}

// Converts `v` to T when it holds a T (integers in T's range, any number for
// floating point, arrays element by element). Never throws.
template <class T>
bool JsonConvert(const nlohmann::json& v, T& out) {
  if constexpr (std::is_same_v<T, nlohmann::json>) {
    out = v;
    return true;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return false;
    out = v.get<bool>();
    return true;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return false;
    out = v.get<std::string>();
    return true;
  } else if constexpr (std::is_integral_v<T>) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
      out = static_cast<T>(u);
      return true;
    }
    if (!v.is_number_integer()) return false;
    int64_t i = v.get<int64_t>();
    if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        (i > 0 && static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max())))
      return false;
    out = static_cast<T>(i);
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) return false;
    out = v.get<T>();
    return true;
  } else {
    static_assert(IsVector<T>::value, "JsonGet: bool, string, integers, floating point, json or vectors of those");
    if (!v.is_array()) return false;
    T items;
    items.reserve(v.size());
    for (const nlohmann::json& e : v) {
      typename T::value_type item{};
      if (!JsonConvert(e, item)) return false;
      items.push_back(std::move(item));
    }
    out = std::move(items);
    return true;
  }
}

inline std::unexpected<Error> JsonFieldError(std::string_view what, std::string_view key, std::string_view wanted,
                                             bool missing) {
  std::string prefix = what.empty() ? std::string() : std::string(what) + ": ";
  if (wanted == "an object") return ParseError(prefix + "not a JSON object");
  return ParseError(prefix + "\"" + std::string(key) + "\" " + (missing ? "is missing" : "must be ") +
                    (missing ? std::string() : std::string(wanted)));
}

// object[key] as T; kParse when `object` is not an object, the key is
// missing, or the value is not a T ("<what>: \"key\" must be an integer").
template <class T>
Result<T> JsonGet(const nlohmann::json& object, std::string_view key, std::string_view what) {
  if (!object.is_object()) return JsonFieldError(what, key, "an object", false);
  auto it = object.find(key);
  if (it == object.end()) return JsonFieldError(what, key, JsonTypeName<T>(), true);
  T out{};
  if (!JsonConvert(*it, out)) return JsonFieldError(what, key, JsonTypeName<T>(), false);
  return out;
}

// As JsonGet, but a missing key or a null gives `fallback`.
template <class T>
Result<T> JsonGetOr(const nlohmann::json& object, std::string_view key, T fallback, std::string_view what) {
  if (!object.is_object()) return JsonFieldError(what, key, "an object", false);
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  T out{};
  if (!JsonConvert(*it, out)) return JsonFieldError(what, key, JsonTypeName<T>(), false);
  return out;
}

// kParse "<what> is not valid JSON" instead of an exception.
inline Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return ParseError(std::string(what) + " is not valid JSON");
  return j;
}

// Serializes without throwing: invalid UTF-8 (a model's broken multi-byte
// token, bytes a sandboxed program wrote) becomes U+FFFD. indent < 0: one line.
inline std::string DumpJson(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lmlab::improve::internal
