#include "lmlab/core/json.h"

#include <fmt/format.h>

namespace lmlab {

Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what) {
  // The SAX-free parse without exceptions reports no position; parse again
  // with exceptions (caught here) only to name where the text went wrong.
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) return j;
  try {
    [[maybe_unused]] nlohmann::json reparsed = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return ParseError(fmt::format("{} is not valid JSON: byte {}: {}", what, e.byte, e.what()));
  } catch (const nlohmann::json::exception& e) {
    return ParseError(fmt::format("{} is not valid JSON: {}", what, e.what()));
  }
  return ParseError(fmt::format("{} is not valid JSON", what));
}

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

namespace json_internal {

std::unexpected<Error> FieldError(std::string_view what, std::string_view key, std::string_view wanted, bool missing) {
  if (wanted == "an object") return ParseError(fmt::format("{}: expected a JSON object", what));
  if (missing) return ParseError(fmt::format("{}: \"{}\" is missing (it must be {})", what, key, wanted));
  return ParseError(fmt::format("{}: \"{}\" must be {}", what, key, wanted));
}

}  // namespace json_internal
}  // namespace lmlab
