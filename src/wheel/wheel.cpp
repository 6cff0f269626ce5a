// Wheel file names (PEP 427 / binary distribution format), core metadata headers and RECORD.
#include "wheel/wheel.hpp"

#include "util/error.hpp"

namespace pb::wheel {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

// Compressed tag sets ("py2.py3") expand to every combination; a sane file has a handful.
constexpr size_t kMaxTags = 4096;

std::optional<WheelName> parse_name(std::string_view filename, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<WheelName> {
    if (why) *why = reason;
    return std::nullopt;
  };
  constexpr std::string_view ext = ".whl";
  if (filename.size() <= ext.size() || filename.substr(filename.size() - ext.size()) != ext)
    return fail("does not end in .whl");
  auto parts = split(filename.substr(0, filename.size() - ext.size()), '-');
  if (parts.size() != 5 && parts.size() != 6) return fail("expected name-version[-build]-python-abi-platform");
  for (auto p : parts)
    if (p.empty()) return fail("empty component");
  WheelName w;
  for (char c : parts[0])
    if (!is_alnum(c) && c != '_' && c != '.') return fail("invalid character in the distribution name");
  for (char c : parts[1])
    if (!is_alnum(c) && c != '_' && c != '.' && c != '+' && c != '!') return fail("invalid character in the version");
  w.distribution = std::string(parts[0]);
  w.version = std::string(parts[1]);
  size_t t = 2;
  if (parts.size() == 6) {
    auto b = parts[2];
    if (!is_digit(b[0])) return fail("the build tag must start with a digit");
    uint64_t n = 0;
    size_t k = 0;
    for (; k < b.size() && is_digit(b[k]); ++k) {
      uint64_t d = uint64_t(b[k] - '0');
      if (n > (UINT64_MAX - d) / 10) return fail("build number too large");
      n = n * 10 + d;
    }
    for (char c : b)
      if (!is_alnum(c) && c != '_' && c != '.') return fail("invalid character in the build tag");
    w.build = std::make_pair(n, std::string(b.substr(k)));
    t = 3;
  }
  auto py = split(parts[t], '.'), abi = split(parts[t + 1], '.'), plat = split(parts[t + 2], '.');
  if (py.size() * abi.size() * plat.size() > kMaxTags) return fail("too many compressed tags");
  for (auto* set : {&py, &abi, &plat})
    for (auto s : *set) {
      if (s.empty()) return fail("empty tag");
      for (char c : s)
        if (!is_alnum(c) && c != '_') return fail("invalid character in a tag");
    }
  auto low = [](std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = lower(c);
    return out;
  };
  for (auto p : py)
    for (auto a : abi)
      for (auto pl : plat) w.tags.push_back(Tag{low(p), low(a), low(pl)});
  return w;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

WheelName WheelName::parse(std::string_view filename) {
  std::string why;
  auto w = parse_name(filename, &why);
  if (!w) throw Error("invalid wheel file name '" + std::string(filename) + "': " + why, Exit::usage);
  return std::move(*w);
}

std::optional<WheelName> WheelName::try_parse(std::string_view filename) {
  return parse_name(filename, nullptr);
}

std::string filename_from_url(std::string_view url) {
  size_t end = url.find_first_of("?#");
  if (end != std::string_view::npos) url = url.substr(0, end);
  size_t slash = url.rfind('/');
  std::string_view seg = slash == std::string_view::npos ? url : url.substr(slash + 1);
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  std::string out;
  out.reserve(seg.size());
  for (size_t i = 0; i < seg.size(); ++i) {
    if (seg[i] == '%' && i + 2 < seg.size() && hex(seg[i + 1]) >= 0 && hex(seg[i + 2]) >= 0) {
      out += char(hex(seg[i + 1]) * 16 + hex(seg[i + 2]));
      i += 2;
    } else {
      out += seg[i];
    }
  }
  return out;
}

Metadata parse_metadata(std::string_view text) {
  // RFC 822-style headers; a line starting with blank continues the previous header; the
  // first empty line starts the body (the long description), which we do not need.
  std::vector<std::pair<std::string_view, std::string>> headers;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') {
      if (!headers.empty()) {
        auto cont = trim(line);
        if (!cont.empty()) {
          if (!headers.back().second.empty()) headers.back().second += ' ';
          headers.back().second += cont;
        }
      }
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a header; tolerated like email parsers do
    headers.emplace_back(trim(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
  }
  Metadata m;
  for (auto& [key, value] : headers) {
    if (iequals(key, "Name")) m.name = value;
    else if (iequals(key, "Version")) m.version = value;
    else if (iequals(key, "Requires-Python")) m.requires_python = value;
    else if (iequals(key, "Requires-Dist")) m.requires_dist.push_back(value);
    else if (iequals(key, "Provides-Extra")) m.provides_extra.push_back(value);
  }
  return m;
}

std::vector<RecordEntry> parse_record(std::string_view text) {
  std::vector<RecordEntry> out;
  size_t i = 0;
  long line = 1;
  while (i < text.size()) {
    long row_line = line;
    std::vector<std::string> fields(1);
    bool quoted_any = false;
    // One CSV row: fields split by ',', "..." quoting with "" for a quote, ends at a newline.
    while (i < text.size()) {
      char c = text[i];
      if (c == '"' && fields.back().empty()) {
        quoted_any = true;
        ++i;
        while (true) {
          if (i >= text.size()) throw file_error("RECORD", row_line, "unterminated quoted field", Exit::problems);
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              fields.back() += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (text[i] == '\n') ++line;
          fields.back() += text[i++];
        }
        if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
          throw file_error("RECORD", row_line, "text after a quoted field", Exit::problems);
        continue;
      }
      if (c == ',') {
        fields.emplace_back();
        ++i;
        continue;
      }
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
        ++i;
        continue;
      }
      if (c == '\n') {
        ++i;
        ++line;
        break;
      }
      fields.back() += c;
      ++i;
    }
    if (fields.size() == 1 && fields[0].empty() && !quoted_any) continue;  // blank line
    if (fields.size() != 3)
      throw file_error("RECORD", row_line, "expected 3 fields (path,hash,size), found " + std::to_string(fields.size()),
                       Exit::problems);
    RecordEntry e;
    e.path = std::move(fields[0]);
    if (e.path.empty()) throw file_error("RECORD", row_line, "empty path", Exit::problems);
    if (!fields[1].empty()) {
      size_t eq = fields[1].find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == fields[1].size())
        throw file_error("RECORD", row_line, "hash '" + fields[1] + "' is not algorithm=value", Exit::problems);
      e.hash_algorithm = fields[1].substr(0, eq);
      e.hash_value = fields[1].substr(eq + 1);
    }
    if (!fields[2].empty()) {
      uint64_t n = 0;
      for (char c : fields[2]) {
        if (!is_digit(c))
          throw file_error("RECORD", row_line, "size '" + fields[2] + "' is not a number", Exit::problems);
        uint64_t d = uint64_t(c - '0');
        if (n > (UINT64_MAX - d) / 10) throw file_error("RECORD", row_line, "size too large", Exit::problems);
        n = n * 10 + d;
      }
      e.size = n;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace pb::wheel
