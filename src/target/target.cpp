// A Pyodide release read from its own files: pyodide-lock.json for the facts and the package
// table, pyodide.mjs for the default distribution URL.
#include "target/target.hpp"

#include <cctype>

#include <nlohmann/json.hpp>

#include "pep440/version.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pb::target {

namespace {

using json = nlohmann::json;

std::string str_field(const json& obj, const char* key, const std::string& where, const std::string& file) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) throw file_error(file, 0, where + ": missing string field '" + key + "'");
  return it->get<std::string>();
}

std::vector<std::string> str_list(const json& obj, const char* key, const std::string& where, const std::string& file,
                                  bool normalize) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) throw file_error(file, 0, where + ": '" + key + "' is not a list");
  for (const auto& v : *it) {
    if (!v.is_string()) throw file_error(file, 0, where + ": '" + key + "' holds a non-string");
    out.push_back(normalize ? pep508::normalize_name(v.get<std::string>()) : v.get<std::string>());
  }
  return out;
}

bool url_char(char c) {
  return c > ' ' && c != '`' && c != '$' && c != '"' && c != '\'' && c != '{' && c != '}' && c != '\\';
}

}  // namespace

// The runtime's own default distribution URL: a template literal `http(s)://…/v${expr}/…/`
// in pyodide.mjs whose single substitution is the release version. Empty when absent.
std::string find_index_url(std::string_view js, std::string_view version) {
  size_t pos = 0;
  while ((pos = js.find("/v${", pos)) != std::string_view::npos) {
    size_t here = pos;
    pos += 4;
    // Backwards to the opening backtick: only URL characters in between.
    size_t open = here;
    while (open > 0 && url_char(js[open - 1])) --open;
    if (open == 0 || js[open - 1] != '`') continue;
    std::string_view prefix = js.substr(open, here + 2 - open);  // up to and including "/v"
    if (prefix.rfind("https://", 0) != 0 && prefix.rfind("http://", 0) != 0) continue;
    // The substitution: a JS expression of identifier characters and dots.
    size_t close = js.find('}', here + 4);
    if (close == std::string_view::npos) continue;
    std::string_view expr = js.substr(here + 4, close - here - 4);
    bool simple = !expr.empty();
    for (char c : expr)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '$')) simple = false;
    if (!simple) continue;
    size_t end = close + 1;
    while (end < js.size() && url_char(js[end])) ++end;
    if (end >= js.size() || js[end] != '`') continue;
    std::string_view suffix = js.substr(close + 1, end - close - 1);
    std::string url = std::string(prefix) + std::string(version) + std::string(suffix);
    if (url.back() != '/') url += '/';
    return url;
  }
  return "";
}

std::string parse_target_spec(std::string_view spec) {
  constexpr std::string_view prefix = "pyodide@";
  if (spec.substr(0, prefix.size()) != prefix)
    throw Error("invalid target '" + std::string(spec) + "': expected pyodide@VERSION (e.g. pyodide@0.29.3)",
                Exit::usage);
  std::string version(spec.substr(prefix.size()));
  if (!pep440::Version::try_parse(version) || version.find_first_of(" \t/\\") != std::string::npos)
    throw Error("invalid target '" + std::string(spec) + "': '" + version + "' is not a release version", Exit::usage);
  return version;
}

Target Target::load(const std::filesystem::path& runtime_dir, const std::string& requested_version) {
  auto lock_path = runtime_dir / "pyodide-lock.json";
  const std::string file = lock_path.string();
  if (!std::filesystem::exists(lock_path))
    throw file_error(file, 0, "not found (is " + runtime_dir.string() + " a Pyodide runtime directory?)", Exit::io);
  json doc;
  try {
    doc = json::parse(fs::read_file(lock_path));
  } catch (const json::exception& e) {
    throw file_error(file, 0, std::string("invalid JSON: ") + e.what());
  }
  if (!doc.is_object()) throw file_error(file, 0, "not a JSON object");
  auto info = doc.find("info");
  if (info == doc.end() || !info->is_object()) throw file_error(file, 0, "missing 'info' object");

  Target t;
  t.runtime_dir = runtime_dir;
  t.python_version = str_field(*info, "python", "info", file);
  t.abi_version = str_field(*info, "abi_version", "info", file);
  t.platform = str_field(*info, "platform", "info", file);
  t.arch = str_field(*info, "arch", "info", file);
  // info.version is not reliable (0.29.3 says 0.28.0.dev0, 314.0.7 has none): the request wins.
  t.pyodide_version = requested_version;
  if (t.pyodide_version.empty() && info->contains("version") && (*info)["version"].is_string())
    t.pyodide_version = (*info)["version"].get<std::string>();

  constexpr std::string_view em = "emscripten_";
  if (t.platform.rfind(em, 0) != 0 || t.platform.size() == em.size())
    throw file_error(file, 0, "info.platform '" + t.platform + "' is not emscripten_X_Y_Z");
  t.emscripten_version = t.platform.substr(em.size());
  for (auto& c : t.emscripten_version)
    if (c == '_') c = '.';
  auto py = pep440::Version::try_parse(t.python_version);
  // The minor bounds the tag list (one abi3 and one py3X tag per older minor): a huge one is no
  // Python release, and would make tags() endless.
  if (!py || py->release.size() < 2 || py->release[0] != 3 || py->release[1] > 99)
    throw file_error(file, 0, "info.python '" + t.python_version + "' is not a Python 3 version");

  auto packages = doc.find("packages");
  if (packages != doc.end()) {
    if (!packages->is_object()) throw file_error(file, 0, "'packages' is not an object");
    for (auto it = packages->begin(); it != packages->end(); ++it) {
      const json& p = it.value();
      std::string where = "package '" + it.key() + "'";
      if (!p.is_object()) throw file_error(file, 0, where + " is not an object");
      PyodidePackage pkg;
      pkg.name = p.contains("name") ? str_field(p, "name", where, file) : it.key();
      pkg.version = str_field(p, "version", where, file);
      pkg.file_name = str_field(p, "file_name", where, file);
      pkg.sha256 = p.contains("sha256") ? str_field(p, "sha256", where, file) : "";
      pkg.package_type = p.contains("package_type") ? str_field(p, "package_type", where, file) : "package";
      pkg.install_dir = p.contains("install_dir") ? str_field(p, "install_dir", where, file) : "site";
      pkg.depends = str_list(p, "depends", where, file, true);
      pkg.imports = str_list(p, "imports", where, file, false);
      t.packages[pep508::normalize_name(it.key())] = std::move(pkg);
    }
  }

  auto mjs = runtime_dir / "pyodide.mjs";
  if (std::filesystem::exists(mjs)) t.index_url = find_index_url(fs::read_file(mjs), t.pyodide_version);
  return t;
}

std::string Target::python_minor() const {
  auto v = pep440::Version::try_parse(python_version);
  if (!v || v->release.size() < 2) return python_version;
  return std::to_string(v->release[0]) + "." + std::to_string(v->release[1]);
}

namespace {

// Minor version of Python 3 this target runs.
unsigned minor_of(const std::string& python_version) {
  auto v = pep440::Version::try_parse(python_version);
  return v && v->release.size() >= 2 ? unsigned(v->release[1]) : 0;
}

}  // namespace

std::vector<wheel::Tag> Target::tags() const {
  unsigned minor = minor_of(python_version);
  std::string cp = "cp3" + std::to_string(minor);
  std::string py = "py3" + std::to_string(minor);
  // Only the ABI this release declares: a wheel for another Pyodide ABI cannot load.
  std::vector<std::string> platforms = {
      "pyemscripten_" + abi_version + "_" + arch,
      "pyodide_" + abi_version + "_" + arch,
      platform + "_" + arch,
  };
  std::vector<wheel::Tag> out;
  for (const auto& p : platforms) out.push_back({cp, cp, p});
  for (unsigned m = minor + 1; m-- > 2;)
    for (const auto& p : platforms) out.push_back({"cp3" + std::to_string(m), "abi3", p});
  for (const auto& p : platforms) out.push_back({cp, "none", p});
  // Pure-Python tags: this minor, any Python 3, then older minors.
  std::vector<std::string> pys = {py, "py3"};
  for (unsigned m = minor; m-- > 0;) pys.push_back("py3" + std::to_string(m));
  for (const auto& v : pys)
    for (const auto& p : platforms) out.push_back({v, "none", p});
  out.push_back({cp, "none", "any"});
  for (const auto& v : pys) out.push_back({v, "none", "any"});
  return out;
}

std::optional<size_t> Target::rank(const wheel::WheelName& wheel) const {
  // Cheap rejection first: most wheels in a lock are for other platforms.
  bool maybe = false;
  for (const auto& t : wheel.tags)
    if (t.platform == "any" || t.platform.find(arch) != std::string::npos) maybe = true;
  if (!maybe) return std::nullopt;
  auto all = tags();
  std::optional<size_t> best;
  for (const auto& t : wheel.tags)
    for (size_t i = 0; i < all.size() && (!best || i < *best); ++i)
      if (all[i] == t) best = i;
  return best;
}

pep508::Environment Target::environment() const {
  return {
      {"implementation_name", "cpython"},
      {"implementation_version", python_version},
      {"os_name", "posix"},
      {"platform_machine", arch},
      {"platform_python_implementation", "CPython"},
      {"platform_release", emscripten_version},
      {"platform_system", "Emscripten"},
      {"platform_version", ""},
      {"python_full_version", python_version},
      {"python_version", python_minor()},
      {"sys_platform", "emscripten"},
  };
}

}  // namespace pb::target
