// Reading bundle.json and snapshot metadata, which people may edit by hand: a missing member or one
// of the wrong type reads as empty, so callers answer with their own error, never a JSON exception.
#pragma once
#include <string>

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

}  // namespace pb
