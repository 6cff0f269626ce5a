#include "vendor/paths.hpp"

#include <array>

namespace pb::vendor {

namespace {

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    parts.push_back(path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && fold_case(s.substr(s.size() - suffix.size())) == suffix;
}

bool license_like(std::string_view name) {
  auto up = fold_case(name);
  for (std::string_view p : {"license", "licence", "copying", "notice", "authors", "copyright"})
    if (up.compare(0, p.size(), p) == 0) return true;
  return false;
}

// Matches one bracket class at p[0] == '['; returns the class length, or 0 when malformed.
size_t match_class(std::string_view p, char c, bool& matched) {
  size_t i = 1;
  bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
  if (negate) ++i;
  bool hit = false;
  bool first = true;
  while (i < p.size() && (p[i] != ']' || first)) {
    first = false;
    char lo = p[i], hi = lo;
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      hi = p[i + 2];
      i += 3;
    } else {
      ++i;
    }
    if (lo <= c && c <= hi) hit = true;
  }
  if (i >= p.size()) return 0;
  matched = (hit != negate) && c != '/';
  return i + 1;
}

// The glob compiled to a sequence of tokens, matched by simulating its NFA over the path: time
// proportional to pattern length times path length, whatever the pattern (a backtracking matcher
// takes exponential time on "**a**a**a...").
class Glob {
 public:
  explicit Glob(std::string_view p) {
    while (!p.empty()) {
      Token t;
      if (p.substr(0, 2) == "**") {
        while (p.substr(0, 2) == "**") p.remove_prefix(2);
        t.kind = Kind::any_path;
        if (!p.empty() && p[0] == '/') {
          t.kind = Kind::dirs;  // "**/": zero or more whole directories
          p.remove_prefix(1);
        }
      } else if (p[0] == '*') {
        t.kind = Kind::any_name;
        p.remove_prefix(1);
      } else if (p[0] == '?') {
        t.kind = Kind::one;
        p.remove_prefix(1);
      } else if (bool ignored = false; p[0] == '[' && match_class(p, 'a', ignored) > 0) {
        t.kind = Kind::cls;
        t.cls = p.substr(0, match_class(p, 'a', ignored));
        p.remove_prefix(t.cls.size());
      } else {
        if (p[0] == '\\' && p.size() > 1) p.remove_prefix(1);
        t.kind = Kind::literal;
        t.c = p[0];
        p.remove_prefix(1);
      }
      tokens_.push_back(t);
    }
  }

  // Whether the pattern matches all of `s`, or (with `prefixes`) also a part of it that ends
  // just before a '/'.
  bool match(std::string_view s, bool prefixes = false) const {
    const size_t n = tokens_.size();
    // State k: before token k (n: matched). State n + 1 + k: inside a "**/" token, mid-name.
    std::vector<char> now(2 * (n + 1), 0), next(now.size(), 0);
    add(now, 0);
    for (size_t i = 0; i < s.size(); ++i) {
      if (prefixes && s[i] == '/' && now[n]) return true;
      std::fill(next.begin(), next.end(), 0);
      bool any = false;
      for (size_t k = 0; k < n; ++k) {
        const auto& t = tokens_[k];
        const char c = s[i];
        if (now[k]) {
          switch (t.kind) {
            case Kind::literal:
              if (c == t.c) any |= add(next, k + 1);
              break;
            case Kind::one:
              if (c != '/') any |= add(next, k + 1);
              break;
            case Kind::cls: {
              bool hit = false;
              match_class(t.cls, c, hit);
              if (hit) any |= add(next, k + 1);
              break;
            }
            case Kind::any_name:
              if (c != '/') any |= add(next, k);
              break;
            case Kind::any_path: any |= add(next, k); break;
            case Kind::dirs: break;
          }
        }
        if (t.kind == Kind::dirs && (now[k] || now[n + 1 + k])) {
          if (c == '/') {
            any |= add(next, k);
          } else {
            next[n + 1 + k] = 1;
            any = true;
          }
        }
      }
      if (!any) return false;
      now.swap(next);
    }
    return now[n];
  }

 private:
  enum class Kind { literal, one, cls, any_name, any_path, dirs };
  struct Token {
    Kind kind = Kind::literal;
    char c = 0;
    std::string_view cls;
  };

  // Enter state k and every state reachable from it without reading (tokens that match nothing).
  bool add(std::vector<char>& set, size_t k) const {
    for (; !set[k]; ++k) {
      set[k] = 1;
      if (k == tokens_.size()) break;
      auto kind = tokens_[k].kind;
      if (kind != Kind::any_name && kind != Kind::any_path && kind != Kind::dirs) break;
    }
    return true;
  }

  std::vector<Token> tokens_;
};

bool match(std::string_view p, std::string_view s) {
  return Glob(p).match(s);
}

}  // namespace

std::optional<std::string> unsafe_name(std::string_view name) {
  if (name.empty()) return "empty name";
  if (!valid_utf8(name)) return "name is not valid UTF-8";
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "control character in name";
    if (c == '\\') return "backslash in name (a Windows path separator)";
  }
  if (name[0] == '/') return "absolute path";
  if (name.size() >= 2 && name[1] == ':' && ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
    return "absolute path (drive letter)";
  if (name.size() > 1024) return "name longer than 1024 bytes";
  auto body = name;
  if (body.back() == '/') body.remove_suffix(1);
  for (auto part : split(body)) {
    if (part.empty()) return "empty path component";
    if (part.size() > 255) return "path component longer than 255 bytes";
    if (part == ".") return "'.' path component";
    if (part == "..") return "'..' path component escapes the bundle";
  }
  return std::nullopt;
}

std::string shown_name(std::string_view name) {
  constexpr size_t kMax = 160;
  if (name.size() > kMax)
    return shown_name(name.substr(0, kMax / 2)) + "..." + shown_name(name.substr(name.size() - kMax / 2));
  std::string out;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

std::string fold_case(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool glob_match(std::string_view pattern, std::string_view path) {
  return match(pattern, path);
}

bool glob_hits(std::string_view pattern, std::string_view path) {
  while (!pattern.empty() && pattern[0] == '/') pattern.remove_prefix(1);
  while (!pattern.empty() && pattern.back() == '/') pattern.remove_suffix(1);
  if (pattern.empty()) return false;
  auto slash = path.find('/');
  auto inner = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
  if (pattern.find('/') == std::string_view::npos) {
    Glob glob(pattern);
    for (auto part : split(inner.empty() ? path : inner))
      if (glob.match(part)) return true;
    return false;
  }
  Glob glob(pattern);
  for (auto candidate : {path, inner})
    if (!candidate.empty() && glob.match(candidate, true)) return true;
  return false;
}

bool any_glob_hits(const std::vector<std::string>& patterns, std::string_view path) {
  for (const auto& p : patterns)
    if (glob_hits(p, path)) return true;
  return false;
}

std::string trim_reason(std::string_view path, bool has_source) {
  auto parts = split(path);
  if (parts.size() > 1 && ends_with_ci(parts.front(), ".dist-info")) return "";
  auto name = parts.back();
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    if (parts[i] == "__pycache__") return "__pycache__";
  if (ends_with_ci(name, ".pyo") || (ends_with_ci(name, ".pyc") && has_source)) return "bytecode";
  if (ends_with_ci(name, ".pyi")) return "stubs";
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    if (parts[i] == "tests" || parts[i] == "test") return "tests";
  if (name == "conftest.py") return "tests";
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    if (parts[i] == "docs" || parts[i] == "doc") return "docs";
  if ((ends_with_ci(name, ".rst") || ends_with_ci(name, ".md")) && !license_like(name)) return "docs";
  return "";
}

}  // namespace pb::vendor
