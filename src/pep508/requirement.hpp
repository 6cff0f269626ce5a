// PEP 508 markers and dependency specifiers.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pep440/version.hpp"

namespace pb::pep508 {

// Marker variables (python_version, sys_platform, ...) -> values.
using Environment = std::map<std::string, std::string>;

// Active extras, dependency groups and uv conflict markers, normalized names.
// `extra == "a" and extra == "b"` is true when both are in the set (uv relies on this).
using ActiveExtras = std::set<std::string>;

// PEP 503 normalization: lowercase, runs of -_. become '-'.
std::string normalize_name(std::string_view name);

struct MarkerNode;

class Marker {
 public:
  Marker();  // the empty marker: always true
  // Throws pb::Error (Exit::usage) with the column of the problem.
  static Marker parse(std::string_view text);

  bool evaluate(const Environment& env, const ActiveExtras& extras = {}) const;
  bool is_true() const;  // no condition at all
  std::string str() const;

  // Evaluate with the extras/groups conditions unknown: true when some choice of
  // extras could make the marker true (or, for a pathological marker, when a bounded
  // search cannot decide). Used to drop host-only dependencies early.
  bool possible(const Environment& env) const;

 private:
  std::shared_ptr<const MarkerNode> root_;
};

struct Requirement {
  std::string name;                 // as written
  std::vector<std::string> extras;  // normalized
  pep440::SpecifierSet specifier;
  std::string url;  // `name @ url`
  Marker marker;

  // Throws pb::Error (Exit::usage) naming the requirement.
  static Requirement parse(std::string_view text);
  std::string normalized_name() const { return normalize_name(name); }
  std::string str() const;
};

}  // namespace pb::pep508
