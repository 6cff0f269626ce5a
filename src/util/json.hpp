// Reading bundle.json and snapshot metadata, which people may edit by hand: a missing member or one
// of the wrong type reads as empty, so callers answer with their own error, never a JSON exception.
#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pb {

// The member `key` of object `o`; null when `o` is not an object or has no such member.
inline const nlohmann::json& json_at(const nlohmann::json& o, const char* key) {
  static const nlohmann::json null;
  if (!o.is_object()) return null;
  auto it = o.find(key);
  return it == o.end() ? null : *it;
}

// The string member `key` of object `o`; empty when absent or not a string.
inline std::string json_string(const nlohmann::json& o, const char* key) {
  const auto& v = json_at(o, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

// Whether `text` nests arrays/objects deeper than `limit`, found by one pass over it (strings
// skipped) before any parse: nlohmann's DOM parser recurses once per level and overflows the
// stack on input nested hundreds of thousands deep.
inline constexpr const char* kTooDeep = "JSON nested deeper than 100 levels";
inline bool json_too_deep(std::string_view text, size_t limit = 100) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

}  // namespace pb
