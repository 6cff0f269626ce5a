#include "fetch/source.hpp"

#include <cctype>

#include "fetch/fetch.hpp"
#include "util/error.hpp"

namespace pb::fetch {

namespace {

// Length of "scheme:" when url starts with a URL scheme, else 0.
size_t scheme_length(const std::string& url) {
  size_t i = 0;
  if (url.empty() || !std::isalpha(static_cast<unsigned char>(url[0]))) return 0;
  while (i < url.size() &&
         (std::isalnum(static_cast<unsigned char>(url[i])) || url[i] == '+' || url[i] == '-' || url[i] == '.'))
    ++i;
  // One letter before ':' is a Windows drive, not a scheme.
  return i < url.size() && url[i] == ':' && i > 1 ? i + 1 : 0;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string redact_url(const std::string& url) {
  size_t scheme = scheme_length(url);
  if (scheme == 0 || url.compare(scheme, 2, "//") != 0) return url;
  size_t auth = scheme + 2;
  size_t end = url.find_first_of("/?#", auth);
  if (end == std::string::npos) end = url.size();
  size_t at = url.rfind('@', end - 1);
  if (at == std::string::npos || at < auth || end == auth) return url;
  return url.substr(0, auth) + url.substr(at + 1);
}

std::string apply_mirrors(const std::string& url, const std::vector<std::pair<std::string, std::string>>& mirrors) {
  const std::pair<std::string, std::string>* best = nullptr;
  for (const auto& m : mirrors)
    if (!m.first.empty() && url.compare(0, m.first.size(), m.first) == 0 &&
        (!best || m.first.size() > best->first.size()))
      best = &m;
  return best ? best->second + url.substr(best->first.size()) : url;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Source classify(const std::string& url, const std::filesystem::path& base_dir) {
  Source src;
  size_t scheme = scheme_length(url);
  if (scheme == 0) {
    std::filesystem::path p(url);
    if (p.is_relative()) p = (base_dir.empty() ? std::filesystem::current_path() : base_dir) / p;
    src.kind = Source::Kind::local;
    src.path = p.lexically_normal();
    return src;
  }
  std::string name = lower(url.substr(0, scheme - 1));
  if (name == "http" || name == "https") {
    src.url = url;
    return src;
  }
  if (name == "file" && url.compare(scheme, 2, "//") == 0) {
    // file:///abs or file://localhost/abs; the query and fragment are not part of the path.
    std::string rest = url.substr(scheme + 2);
    size_t slash = rest.find('/');
    std::string host = slash == std::string::npos ? rest : rest.substr(0, slash);
    if ((host.empty() || lower(host) == "localhost") && slash != std::string::npos) {
      std::string path = rest.substr(slash);
      if (size_t q = path.find_first_of("?#"); q != std::string::npos) path.resize(q);
      src.kind = Source::Kind::local;
      src.path = std::filesystem::path(percent_decode(path)).lexically_normal();
      return src;
    }
  }
  src.kind = Source::Kind::unsupported;
  src.url = url;
  return src;
}

std::pair<std::string, std::string> parse_mirror(const std::string& spec) {
  size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw Error("--mirror '" + redact_url(spec) + "': expected FROM=TO (two URL prefixes)", Exit::usage);
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

}  // namespace pb::fetch
