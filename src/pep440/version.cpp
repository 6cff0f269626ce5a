// PEP 440 version parsing and ordering. A hand-written scanner that accepts exactly
// what the PEP's canonical regex accepts (with its normalizations), without std::regex:
// lock files hold thousands of versions.
#include "pep440/version.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace pb::pep440 {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'z');
}
bool is_sep(char c) {
  return c == '.' || c == '-' || c == '_';
}
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

struct Scanner {
  std::string_view s;
  size_t i = 0;
  bool overflow = false;

  bool done() const { return i >= s.size(); }
  char peek(size_t k = 0) const { return i + k < s.size() ? s[i + k] : '\0'; }

  // Case-insensitive literal match at the cursor (does not advance).
  bool looking_at(std::string_view word, size_t at) const {
    if (at + word.size() > s.size()) return false;
    for (size_t k = 0; k < word.size(); ++k)
      if (lower(s[at + k]) != word[k]) return false;
    return true;
  }

  // Reads digits at `at`; returns the count consumed (0 if none).
  size_t number_at(size_t at, uint64_t& out) {
    size_t k = at;
    uint64_t v = 0;
    while (k < s.size() && is_digit(s[k])) {
      uint64_t d = uint64_t(s[k] - '0');
      if (v > (UINT64_MAX - d) / 10) overflow = true;
      v = v * 10 + d;
      ++k;
    }
    out = v;
    return k - at;
  }

  // `[-_.]? LABEL [-_.]? N?` starting at the cursor, trying labels in order (longest first).
  // Returns the index of the matched label or -1; sets `num` (nullopt when absent).
  int labelled(std::initializer_list<std::string_view> labels, std::optional<uint64_t>& num) {
    size_t at = i;
    if (at < s.size() && is_sep(s[at])) ++at;
    int idx = 0;
    for (auto label : labels) {
      if (looking_at(label, at)) {
        // `[-_.]? N?`: a separator may trail the label with no number ("1.0a-" is 1.0a0).
        // Taking it is always safe: every later part has an optional separator of its own.
        size_t d = at + label.size();
        if (d < s.size() && is_sep(s[d])) ++d;
        uint64_t n = 0;
        size_t len = number_at(d, n);
        if (len > 0) num = n;
        else num.reset();
        i = d + len;
        return idx;
      }
      ++idx;
    }
    return -1;
  }
};

std::optional<Version> parse_impl(std::string_view text, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<Version> {
    if (why) *why = reason;
    return std::nullopt;
  };
  Scanner sc{trim(text)};
  Version v;
  if (lower(sc.peek()) == 'v') ++sc.i;

  // Epoch and release: N(.N)* with an optional "N!" first.
  uint64_t n = 0;
  size_t len = sc.number_at(sc.i, n);
  if (len == 0) return fail("expected a release number");
  if (sc.peek(len) == '!') {
    v.epoch = n;
    sc.i += len + 1;
    len = sc.number_at(sc.i, n);
    if (len == 0) return fail("expected a release number after the epoch");
  }
  v.release.push_back(n);
  sc.i += len;
  while (sc.peek() == '.' && is_digit(sc.peek(1))) {
    ++sc.i;
    sc.i += sc.number_at(sc.i, n);
    v.release.push_back(n);
  }

  // Pre-release.
  {
    std::optional<uint64_t> num;
    int which = sc.labelled({"alpha", "a", "beta", "b", "preview", "pre", "rc", "c"}, num);
    if (which >= 0) {
      static constexpr char kinds[] = {'a', 'a', 'b', 'b', 'c', 'c', 'c', 'c'};
      v.pre = std::make_pair(kinds[which], num.value_or(0));
    }
  }
  // Post-release: "-N" or `[-_.]? (post|rev|r) [-_.]? N?`.
  if (sc.peek() == '-' && is_digit(sc.peek(1))) {
    ++sc.i;
    sc.i += sc.number_at(sc.i, n);
    v.post = n;
  } else {
    std::optional<uint64_t> num;
    if (sc.labelled({"post", "rev", "r"}, num) >= 0) v.post = num.value_or(0);
  }
  // Development release.
  {
    std::optional<uint64_t> num;
    if (sc.labelled({"dev"}, num) >= 0) v.dev = num.value_or(0);
  }
  // Local version: + alnum ([-_.] alnum)*.
  if (sc.peek() == '+') {
    ++sc.i;
    while (true) {
      size_t start = sc.i;
      while (!sc.done() && is_alnum(sc.peek())) ++sc.i;
      if (sc.i == start) return fail("invalid local version label");
      std::string_view seg = sc.s.substr(start, sc.i - start);
      if (std::all_of(seg.begin(), seg.end(), is_digit)) {
        uint64_t x = 0;
        sc.number_at(start, x);
        v.local.emplace_back(x);
      } else {
        std::string low(seg);
        for (auto& c : low) c = lower(c);
        v.local.emplace_back(std::move(low));
      }
      if (!sc.done() && is_sep(sc.peek())) {
        ++sc.i;
        continue;
      }
      break;
    }
  }
  if (sc.overflow) return fail("number too large");
  if (!sc.done()) return fail("unexpected text");
  return v;
}

// Release compared as if padded with zeros.
std::strong_ordering compare_release(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    uint64_t x = i < a.size() ? a[i] : 0, y = i < b.size() ? b[i] : 0;
    if (x != y) return x <=> y;
  }
  return std::strong_ordering::equal;
}

// Sort keys per PEP 440 (as the reference implementation builds them):
// pre: dev-only releases sort before any pre-release; no pre sorts after all of them.
int pre_rank(const Version& v) {
  if (!v.pre && !v.post && v.dev) return 0;  // 1.0.dev0 < 1.0a0
  if (v.pre) return 1;
  return 2;
}

}  // namespace

Version Version::parse(std::string_view text) {
  std::string why;
  auto v = parse_impl(text, &why);
  if (!v) throw Error("invalid version '" + std::string(text) + "': " + why, Exit::usage);
  return std::move(*v);
}

std::optional<Version> Version::try_parse(std::string_view text) {
  return parse_impl(text, nullptr);
}

std::string Version::str() const {
  std::string out;
  if (epoch) out += std::to_string(epoch) + "!";
  for (size_t i = 0; i < release.size(); ++i) {
    if (i) out += '.';
    out += std::to_string(release[i]);
  }
  if (pre) {
    out += pre->first == 'c' ? "rc" : std::string(1, pre->first);
    out += std::to_string(pre->second);
  }
  if (post) out += ".post" + std::to_string(*post);
  if (dev) out += ".dev" + std::to_string(*dev);
  for (size_t i = 0; i < local.size(); ++i) {
    out += i ? '.' : '+';
    if (auto* num = std::get_if<uint64_t>(&local[i])) out += std::to_string(*num);
    else out += std::get<std::string>(local[i]);
  }
  return out;
}

Version Version::public_version() const {
  Version v = *this;
  v.local.clear();
  return v;
}

std::strong_ordering Version::operator<=>(const Version& o) const {
  if (auto c = epoch <=> o.epoch; c != 0) return c;
  if (auto c = compare_release(release, o.release); c != 0) return c;
  if (auto c = pre_rank(*this) <=> pre_rank(o); c != 0) return c;
  if (pre && o.pre) {
    if (auto c = pre->first <=> o.pre->first; c != 0) return c;
    if (auto c = pre->second <=> o.pre->second; c != 0) return c;
  }
  // No post-release sorts before any post-release.
  if (auto c = post.has_value() <=> o.post.has_value(); c != 0) return c;
  if (post && o.post)
    if (auto c = *post <=> *o.post; c != 0) return c;
  // No dev-release sorts after any dev-release.
  if (auto c = o.dev.has_value() <=> dev.has_value(); c != 0) return c;
  if (dev && o.dev)
    if (auto c = *dev <=> *o.dev; c != 0) return c;
  // Local: absent sorts first; segment-wise, strings before numbers, shorter prefix first.
  size_t n = std::min(local.size(), o.local.size());
  for (size_t i = 0; i < n; ++i) {
    const auto &a = local[i], &b = o.local[i];
    if (a.index() != b.index()) return a.index() == 0 ? std::strong_ordering::greater : std::strong_ordering::less;
    if (a.index() == 0) {
      if (auto c = std::get<0>(a) <=> std::get<0>(b); c != 0) return c;
    } else {
      int c = std::get<1>(a).compare(std::get<1>(b));
      if (c != 0) return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
    }
  }
  return local.size() <=> o.local.size();
}

}  // namespace pb::pep440
