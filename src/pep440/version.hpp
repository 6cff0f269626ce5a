// PEP 440 versions and specifiers.
#pragma once
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pb::pep440 {

class Version {
 public:
  // Throws pb::Error (Exit::usage) with the reason when `text` is not a valid PEP 440 version.
  static Version parse(std::string_view text);
  static std::optional<Version> try_parse(std::string_view text);

  uint64_t epoch = 0;
  std::vector<uint64_t> release;
  // Pre-release: kind is 'a', 'b' or 'c' (rc), number.
  std::optional<std::pair<char, uint64_t>> pre;
  std::optional<uint64_t> post;
  std::optional<uint64_t> dev;
  // Local segments, each a number or a lowercase string.
  std::vector<std::variant<uint64_t, std::string>> local;

  bool is_prerelease() const { return pre.has_value() || dev.has_value(); }
  std::string str() const;         // normalized form
  Version public_version() const;  // without the local segment
  std::strong_ordering operator<=>(const Version& other) const;
  bool operator==(const Version& other) const { return (*this <=> other) == 0; }
};

enum class Op { eq, ne, le, ge, lt, gt, compatible, arbitrary };

struct Specifier {
  Op op;
  std::string version_text;               // as written (needed for `===` and `.*`)
  Version version;                        // unused for `===`
  bool wildcard = false;                  // `== 1.2.*` / `!= 1.2.*`
  bool contains(const Version& v) const;  // ignores the pre-release rule
  std::string str() const;
};

class SpecifierSet {
 public:
  // Comma-separated specifiers; empty text is the empty set (matches everything).
  // Throws pb::Error (Exit::usage) naming the bad specifier.
  static SpecifierSet parse(std::string_view text);

  // PEP 440 semantics: pre-releases match only when `prereleases` is true or a
  // specifier explicitly names a pre-release.
  bool contains(const Version& v, bool prereleases = false) const;
  bool contains(std::string_view version, bool prereleases = false) const;
  bool empty() const { return specs.empty(); }
  std::string str() const;

  std::vector<Specifier> specs;
};

}  // namespace pb::pep440
