// Reading and writing JSON that crosses lmlab's boundary (endpoint replies,
// HTTP request bodies, cache manifests, checkpoints, run files) without
// exceptions: nlohmann::json throws on a parse error, on a field of the wrong
// type and on invalid UTF-8 in dump(); these helpers return lmlab::Error
// (kParse) naming the document and the field instead.
//
//   LMLAB_ASSIGN_OR_RETURN(nlohmann::json m, ParseJson(text, "manifest.json"));
//   LMLAB_ASSIGN_OR_RETURN(int64_t n, JsonGet<int64_t>(m, "n_prompts", "manifest.json"));
//   LMLAB_ASSIGN_OR_RETURN(auto layers, JsonGet<std::vector<int>>(m, "layers", "manifest.json"));
//   std::string name = JsonGetOr<std::string>(m, "name", "", "manifest.json").value_or("");
//   WriteFileAtomic(path, DumpJson(j, 2));  // invalid UTF-8 becomes U+FFFD
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/error.h"

namespace lmlab {

// Parses `text`; kParse "<what> is not valid JSON: ..." with the byte offset.
Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what);

// Serializes without throwing: invalid UTF-8 in strings (a model's broken
// multi-byte token, a user's Latin-1 file) is replaced by U+FFFD.
// indent < 0: one line.
std::string DumpJson(const nlohmann::json& j, int indent = -1);

namespace json_internal {

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

// "a string", "an integer", ... for messages.
template <class T>
std::string_view TypeName() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, nlohmann::json>) return "a value";
  else return "an array";
}

// Converts `v` to T when it holds a T (integers in T's range; any number for
// floating point; arrays element by element). Never throws.
template <class T>
bool Convert(const nlohmann::json& v, T& out) {
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
    if constexpr (std::is_signed_v<T>) {
      if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          i > static_cast<int64_t>(std::numeric_limits<T>::max()))
        return false;
    } else {
      if (i < 0 || static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    }
    out = static_cast<T>(i);
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) return false;
    out = v.get<T>();
    return true;
  } else {
    static_assert(IsVector<T>::value, "JsonGet: bool, string, integers, floating point, json or std::vector of those");
    if (!v.is_array()) return false;
    T items;
    items.reserve(v.size());
    for (const nlohmann::json& e : v) {
      typename T::value_type item{};
      if (!Convert(e, item)) return false;
      items.push_back(std::move(item));
    }
    out = std::move(items);
    return true;
  }
}

std::unexpected<Error> FieldError(std::string_view what, std::string_view key, std::string_view wanted, bool missing);

}  // namespace json_internal

// object[key] as T; kParse when `object` is not an object, the key is
// missing, or the value is not a T ("<what>: \"key\" must be an integer").
template <class T>
Result<T> JsonGet(const nlohmann::json& object, std::string_view key, std::string_view what) {
  if (!object.is_object()) return json_internal::FieldError(what, key, "an object", false);
  auto it = object.find(key);
  if (it == object.end()) return json_internal::FieldError(what, key, json_internal::TypeName<T>(), true);
  T out{};
  if (!json_internal::Convert(*it, out)) return json_internal::FieldError(what, key, json_internal::TypeName<T>(), false);
  return out;
}

// As JsonGet, but a missing key or a null value gives `fallback`; a value of
// the wrong type is still an error.
template <class T>
Result<T> JsonGetOr(const nlohmann::json& object, std::string_view key, T fallback, std::string_view what) {
  if (!object.is_object()) return json_internal::FieldError(what, key, "an object", false);
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  T out{};
  if (!json_internal::Convert(*it, out)) return json_internal::FieldError(what, key, json_internal::TypeName<T>(), false);
  return out;
}

}  // namespace lmlab
