// PEP 508 dependency specifiers: `name[extras] specs ; marker` and `name[extras] @ url ; marker`,
// plus the old parenthesised form `name (>=1.0)` that older METADATA files still use.
#include "pep508/requirement.hpp"

#include "util/error.hpp"

namespace pb::pep508 {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_name_char(char c) {
  return is_alnum(c) || c == '-' || c == '_' || c == '.';
}

class ReqParser {
 public:
  explicit ReqParser(std::string_view s) : s_(s) {}

  Requirement parse() {
    Requirement r;
    skip();
    r.name = identifier("a package name");
    skip();
    if (peek() == '[') {
      ++i_;
      skip();
      while (peek() != ']') {
        r.extras.push_back(normalize_name(identifier("an extra name")));
        skip();
        if (peek() == ',') {
          ++i_;
          skip();
          continue;
        }
        if (peek() != ']') fail("expected ',' or ']' in the extras");
      }
      ++i_;
      skip();
    }
    if (peek() == '@') {
      ++i_;
      skip();
      size_t start = i_;
      while (i_ < s_.size() && !is_space(s_[i_])) ++i_;
      r.url.assign(s_.substr(start, i_ - start));
      if (r.url.empty()) fail("expected a URL after '@'");
      skip();
      if (i_ < s_.size() && peek() != ';') fail("expected ';' or the end after the URL");
    } else if (peek() == '(') {
      ++i_;
      size_t close = s_.find(')', i_);
      if (close == std::string_view::npos) fail("expected ')' after the version specifier");
      r.specifier = specifiers(s_.substr(i_, close - i_));
      i_ = close + 1;
      skip();
    } else {
      size_t end = s_.find(';', i_);
      if (end == std::string_view::npos) end = s_.size();
      r.specifier = specifiers(s_.substr(i_, end - i_));
      i_ = end;
    }
    if (i_ < s_.size()) {
      if (peek() != ';') fail("expected ';' before the marker");
      ++i_;
      try {
        r.marker = Marker::parse(s_.substr(i_));
      } catch (const Error& e) {
        throw Error("invalid requirement '" + std::string(s_) + "': " + e.what(), Exit::usage);
      }
    }
    return r;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw Error("invalid requirement '" + std::string(s_) + "': " + what + " at column " + std::to_string(i_ + 1),
                Exit::usage);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip() {
    while (i_ < s_.size() && is_space(s_[i_])) ++i_;
  }
  // [A-Za-z0-9] ([A-Za-z0-9._-]* [A-Za-z0-9])?
  std::string identifier(const char* what) {
    size_t start = i_;
    if (!is_alnum(peek())) fail(std::string("expected ") + what);
    while (i_ < s_.size() && is_name_char(s_[i_])) ++i_;
    while (i_ > start + 1 && !is_alnum(s_[i_ - 1])) --i_;  // must end alphanumeric
    return std::string(s_.substr(start, i_ - start));
  }
  pep440::SpecifierSet specifiers(std::string_view text) {
    try {
      return pep440::SpecifierSet::parse(text);
    } catch (const Error& e) {
      throw Error("invalid requirement '" + std::string(s_) + "': " + e.what(), Exit::usage);
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

Requirement Requirement::parse(std::string_view text) {
  return ReqParser(text).parse();
}

std::string Requirement::str() const {
  std::string out = name;
  if (!extras.empty()) {
    out += '[';
    for (size_t i = 0; i < extras.size(); ++i) out += (i ? "," : "") + extras[i];
    out += ']';
  }
  if (!url.empty()) {
    out += " @ " + url;
    if (!marker.is_true()) out += " ;";
  } else {
    out += specifier.str();
    if (!marker.is_true()) out += ';';
  }
  if (!marker.is_true()) out += " " + marker.str();
  return out;
}

}  // namespace pb::pep508
