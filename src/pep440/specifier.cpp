// PEP 440 version specifiers, following the PEP's "Version specifiers" section.
#include <algorithm>

#include "pep440/version.hpp"
#include "util/error.hpp"

namespace pb::pep440 {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

constexpr std::pair<std::string_view, Op> kOps[] = {
    {"===", Op::arbitrary}, {"==", Op::eq},         {"!=", Op::ne}, {"<=", Op::le},
    {">=", Op::ge},         {"~=", Op::compatible}, {"<", Op::lt},  {">", Op::gt},
};

std::string_view op_text(Op op) {
  for (auto& [text, o] : kOps)
    if (o == op) return text;
  return "";
}

// Epoch and release only, compared with zero padding (the "base version").
bool same_base(const Version& a, const Version& b) {
  if (a.epoch != b.epoch) return false;
  size_t n = std::max(a.release.size(), b.release.size());
  for (size_t i = 0; i < n; ++i) {
    uint64_t x = i < a.release.size() ? a.release[i] : 0, y = i < b.release.size() ? b.release[i] : 0;
    if (x != y) return false;
  }
  return true;
}

// `V == prefix.*`: epoch equal and V's release, zero padded, starts with the prefix's release.
bool prefix_match(const Version& v, uint64_t epoch, const std::vector<uint64_t>& prefix) {
  if (v.epoch != epoch) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if ((i < v.release.size() ? v.release[i] : 0) != prefix[i]) return false;
  return true;
}

bool is_plain_release(const Version& v) {
  return !v.pre && !v.post && !v.dev && v.local.empty();
}

Specifier parse_one(std::string_view text) {
  std::string_view s = trim(text);
  Specifier spec{};
  bool found = false;
  for (auto& [t, o] : kOps) {
    if (s.substr(0, t.size()) == t) {
      spec.op = o;
      s.remove_prefix(t.size());
      found = true;
      break;
    }
  }
  std::string full(trim(text));
  if (!found)
    throw Error("invalid specifier '" + full + "': expected an operator (==, !=, <=, >=, <, >, ~=, ===)", Exit::usage);
  s = trim(s);
  spec.version_text = std::string(s);
  if (s.empty()) throw Error("invalid specifier '" + full + "': missing version", Exit::usage);
  if (spec.op == Op::arbitrary) {
    for (char c : s)
      if (is_space(c) || c == ';' || c == ')')
        throw Error("invalid specifier '" + full + "': bad character in '===' value", Exit::usage);
    if (auto v = Version::try_parse(s)) spec.version = *v;
    return spec;
  }
  std::string_view vtext = s;
  if (s.size() >= 2 && s.substr(s.size() - 2) == ".*") {
    if (spec.op != Op::eq && spec.op != Op::ne)
      throw Error("invalid specifier '" + full + "': '.*' is only allowed with == and !=", Exit::usage);
    spec.wildcard = true;
    vtext = s.substr(0, s.size() - 2);
  }
  auto v = Version::try_parse(vtext);
  // The version must follow the operator directly or after blanks; Version::parse trims, so
  // reject blanks inside the text here (e.g. "== 1.0 .*").
  if (!v || std::any_of(vtext.begin(), vtext.end(), is_space))
    throw Error("invalid specifier '" + full + "': '" + std::string(vtext) + "' is not a valid version", Exit::usage);
  spec.version = std::move(*v);
  if (spec.wildcard && !is_plain_release(spec.version))
    throw Error("invalid specifier '" + full + "': a '.*' prefix must be a plain release", Exit::usage);
  if (!spec.version.local.empty() && spec.op != Op::eq && spec.op != Op::ne)
    throw Error("invalid specifier '" + full + "': local versions are only allowed with == and !=", Exit::usage);
  if (spec.op == Op::compatible && spec.version.release.size() < 2)
    throw Error("invalid specifier '" + full + "': '~=' needs at least two release segments", Exit::usage);
  return spec;
}

// Whether this specifier names a pre-release, which lets the set admit pre-releases.
bool names_prerelease(const Specifier& s) {
  if (s.op == Op::ne) return false;
  if (s.op == Op::arbitrary) {
    auto v = Version::try_parse(s.version_text);
    return v && v->is_prerelease();
  }
  return s.version.is_prerelease();
}

}  // namespace

bool Specifier::contains(const Version& v) const {
  const Version& spec = version;
  switch (op) {
    case Op::eq:
    case Op::ne: {
      bool eq;
      if (wildcard) eq = prefix_match(v, spec.epoch, spec.release);
      else if (spec.local.empty()) eq = v.public_version() == spec;
      else eq = v == spec;
      return op == Op::eq ? eq : !eq;
    }
    case Op::le: return v.public_version() <= spec;
    case Op::ge: return v.public_version() >= spec;
    case Op::lt:
      if (!(v < spec)) return false;
      // <V excludes pre-releases of V itself unless V is one.
      if (!spec.is_prerelease() && v.is_prerelease() && same_base(v, spec)) return false;
      return true;
    case Op::gt:
      if (!(v > spec)) return false;
      // >V excludes post-releases of V unless V is one, and local versions of V.
      if (!spec.post && v.post && same_base(v, spec)) return false;
      if (!v.local.empty() && same_base(v, spec)) return false;
      return true;
    case Op::compatible: {
      if (!(v.public_version() >= spec)) return false;
      std::vector<uint64_t> prefix(spec.release.begin(), spec.release.end() - 1);
      return prefix_match(v, spec.epoch, prefix);
    }
    case Op::arbitrary: return iequals(v.str(), version_text);
  }
  return false;
}

std::string Specifier::str() const {
  return std::string(op_text(op)) + version_text;
}

SpecifierSet SpecifierSet::parse(std::string_view text) {
  SpecifierSet set;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view part = trim(text.substr(start, comma - start));
    if (!part.empty()) set.specs.push_back(parse_one(part));
    start = comma + 1;
  }
  return set;
}

bool SpecifierSet::contains(const Version& v, bool prereleases) const {
  if (!prereleases && v.is_prerelease() && std::none_of(specs.begin(), specs.end(), names_prerelease)) return false;
  for (const auto& s : specs)
    if (!s.contains(v)) return false;
  return true;
}

bool SpecifierSet::contains(std::string_view version, bool prereleases) const {
  if (auto v = Version::try_parse(version)) return contains(*v, prereleases);
  // Not a PEP 440 version: only `===` can match it, as a plain string.
  if (specs.empty()) return false;
  std::string_view t = trim(version);
  return std::all_of(specs.begin(), specs.end(),
                     [&](const Specifier& s) { return s.op == Op::arbitrary && iequals(s.version_text, t); });
}

std::string SpecifierSet::str() const {
  std::string out;
  for (const auto& s : specs) {
    if (!out.empty()) out += ',';
    out += s.str();
  }
  return out;
}

}  // namespace pb::pep440
