#include "vendor/backend.hpp"

#include <algorithm>
#include <cctype>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/toml.hpp"

namespace pb::vendor {

namespace stdfs = std::filesystem;

namespace {

std::vector<std::string> strings(toml::node_view<const toml::node> v) {
  std::vector<std::string> out;
  if (auto s = v.value<std::string>()) out.push_back(*s);
  if (const auto* a = v.as_array())
    for (const auto& e : *a)
      if (auto s = e.value<std::string>()) out.push_back(*s);
  return out;
}

std::string strip_slashes(std::string p) {
  while (p.starts_with("./")) p.erase(0, 2);
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

bool has_glob(const std::string& p) {
  return p.find_first_of("*?[") != std::string::npos;
}

std::string dotted_path(const std::string& name) {
  std::string out = name;
  std::replace(out.begin(), out.end(), '.', '/');
  return out;
}

struct Reader {
  const stdfs::path& dir;
  BackendModules& out;
  std::string where;  // "[tool.hatch.build.targets.wheel] packages", for messages

  bool exists(const stdfs::path& p) const {
    std::error_code ec;
    return stdfs::exists(p, ec);
  }
  void missing(const std::string& what) {
    out.problems.push_back(dir.string() + "/pyproject.toml: " + where + " names '" + what + "', which is not in " +
                           dir.string());
  }
  // A path relative to the directory, going to python_modules/`dest`.
  void path(const std::string& rel, const std::string& dest) {
    if (exists(dir / rel)) out.modules.push_back({dir / rel, dest});
    else missing(rel);
  }
  // A module by dotted name under `root`: the package directory or the .py file.
  void module(const stdfs::path& root, const std::string& name) {
    auto rel = dotted_path(name);
    if (exists(dir / root / rel)) out.modules.push_back({dir / root / rel, rel});
    else if (exists(dir / root / (rel + ".py"))) out.modules.push_back({dir / root / (rel + ".py"), rel + ".py"});
    else missing(name);
  }
  void root(const std::string& rel) {
    if (exists(dir / rel)) out.roots.push_back(dir / rel);
    else missing(rel);
  }
};

// hatchling: packages = ["lib/x"] ships lib/x as x; only-include paths keep their place unless
// `sources` rewrites a prefix (["src"] drops it, {"lib/x" = "x"} renames it).
void hatch(const toml::table& doc, Reader r) {
  for (const char* key : {"tool.hatch.build.targets.wheel", "tool.hatch.build"}) {
    auto t = doc.at_path(key);
    auto packages = strings(t["packages"]);
    auto only = strings(t["only-include"]);
    if (packages.empty() && only.empty()) continue;
    r.out.backend = "hatchling";
    r.where = std::string("[") + key + "] packages";
    for (auto p : packages) {
      p = strip_slashes(p);
      r.path(p, stdfs::path(p).filename().string());
    }
    std::vector<std::pair<std::string, std::string>> rewrite;
    for (const auto& s : strings(t["sources"])) rewrite.emplace_back(strip_slashes(s), "");
    if (const auto* m = t["sources"].as_table())
      for (const auto& [from, to] : *m)
        if (auto s = to.value<std::string>())
          rewrite.emplace_back(strip_slashes(std::string(from.str())), strip_slashes(*s));
    r.where = std::string("[") + key + "] only-include";
    for (auto p : only) {
      p = strip_slashes(p);
      std::string dest = p;
      for (const auto& [from, to] : rewrite)
        if (!from.empty() && (p == from || p.starts_with(from + "/"))) {
          dest = to + (p.size() > from.size() ? (to.empty() ? "" : "/") + p.substr(from.size() + 1) : "");
          break;
        }
      r.path(p, dest);
    }
    return;
  }
}

// setuptools: explicit packages (dotted names, placed by package-dir) and py-modules, or
// packages.find's where directories (filtered by include).
void setuptools(const toml::table& doc, Reader r) {
  auto t = doc.at_path("tool.setuptools");
  if (!t.as_table()) return;
  std::vector<std::pair<std::string, std::string>> package_dir;
  if (const auto* m = t["package-dir"].as_table())
    for (const auto& [k, v] : *m)
      if (auto s = v.value<std::string>()) package_dir.emplace_back(std::string(k.str()), strip_slashes(*s));
  std::string base = ".";
  for (const auto& [k, v] : package_dir)
    if (k.empty()) base = v.empty() ? "." : v;
  auto names = strings(t["packages"]);
  auto modules = strings(t["py-modules"]);
  auto find = t["packages"]["find"];  // packages = {find = {...}} or [tool.setuptools.packages.find]
  if (names.empty() && modules.empty() && !find.as_table() && package_dir.empty()) return;
  r.out.backend = "setuptools";
  r.where = "[tool.setuptools] packages";
  for (const auto& name : names) {
    // A subpackage comes with its parent's directory.
    bool parent_listed =
        std::any_of(names.begin(), names.end(), [&](const std::string& p) { return name.starts_with(p + "."); });
    if (parent_listed) continue;
    auto mapped =
        std::find_if(package_dir.begin(), package_dir.end(), [&](const auto& kv) { return kv.first == name; });
    if (mapped != package_dir.end()) r.path(mapped->second, dotted_path(name));
    else r.path((stdfs::path(base) / dotted_path(name)).lexically_normal().generic_string(), dotted_path(name));
  }
  r.where = "[tool.setuptools] py-modules";
  for (const auto& m : modules)
    r.path((stdfs::path(base) / (dotted_path(m) + ".py")).lexically_normal().generic_string(), dotted_path(m) + ".py");
  if (find.as_table()) {
    r.where = "[tool.setuptools.packages.find] where";
    auto where = strings(find["where"]);
    if (where.empty()) where.push_back(base);
    for (const auto& w : where) r.root(strip_slashes(w).empty() ? "." : strip_slashes(w));
    r.out.include = strings(find["include"]);
  } else if (names.empty() && modules.empty()) {
    r.where = "[tool.setuptools] package-dir";
    r.root(base);  // automatic discovery under package-dir's root
  }
}

void flit(const toml::table& doc, Reader r) {
  auto name = doc.at_path("tool.flit.module.name").value<std::string>();
  if (!name) return;
  r.out.backend = "flit";
  r.where = "[tool.flit.module] name";
  auto rel = dotted_path(*name);
  for (const char* root : {".", "src"}) {
    if (r.exists(r.dir / root / rel) || r.exists(r.dir / root / (rel + ".py"))) return r.module(root, *name);
  }
  r.missing(*name);
}

void uv_build(const toml::table& doc, Reader r, const std::string& project_name) {
  auto t = doc.at_path("tool.uv.build-backend");
  auto backend = doc.at_path("build-system.build-backend").value<std::string>();
  if (!t.as_table() && backend != "uv_build") return;
  r.out.backend = "uv_build";
  auto root = strip_slashes(t["module-root"].value_or(std::string("src")));
  if (root.empty()) root = ".";
  auto names = strings(t["module-name"]);
  if (names.empty()) {  // the project name, normalised to an identifier
    std::string n;
    for (char c : project_name)
      n += (c == '-' || c == '.') ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    names.push_back(n);
  }
  r.where = "[tool.uv.build-backend] module-name (under module-root '" + root + "')";
  for (const auto& n : names) r.module(root, n);
}

// pdm-backend: includes (paths placed relative to package-dir when under it), else package-dir's
// modules and packages.
void pdm(const toml::table& doc, Reader r) {
  auto t = doc.at_path("tool.pdm.build");
  if (!t.as_table()) return;
  auto package_dir = strip_slashes(t["package-dir"].value_or(std::string()));
  auto includes = strings(t["includes"]);
  if (package_dir.empty() && includes.empty()) return;
  if (package_dir.empty() && r.exists(r.dir / "src")) package_dir = "src";
  r.out.backend = "pdm-backend";
  r.where = "[tool.pdm.build] includes";
  bool globbed = false;
  for (auto p : includes) {
    p = strip_slashes(p);
    if (has_glob(p)) {
      globbed = true;
      continue;
    }
    std::string dest = !package_dir.empty() && p.starts_with(package_dir + "/") ? p.substr(package_dir.size() + 1) : p;
    r.path(p, dest);
  }
  if (includes.empty() || globbed) {
    r.where = "[tool.pdm.build] package-dir";
    r.root(package_dir.empty() ? "." : package_dir);
  }
}

}  // namespace

BackendModules backend_modules(const stdfs::path& dir, const std::string& project_name) {
  BackendModules out;
  auto file = dir / "pyproject.toml";
  std::error_code ec;
  if (!stdfs::is_regular_file(file, ec)) return out;
  toml::table doc;
  try {
    doc = parse_toml(fs::read_file(file), file.string());
  } catch (const Error& e) {
    out.problems.push_back(e.what());
    return out;
  }
  Reader r{dir, out, ""};
  // The declared backend's configuration first; a table of another backend only when it names none.
  auto backend = doc.at_path("build-system.build-backend").value_or(std::string());
  std::vector<std::string> order{"hatchling", "setuptools", "flit", "uv_build", "pdm"};
  for (size_t i = 0; i < order.size(); ++i)
    if (backend.starts_with(order[i] == "flit" ? "flit_core" : order[i]))
      std::rotate(order.begin(), order.begin() + i, order.begin() + i + 1);
  for (const auto& b : order) {
    if (b == "hatchling") hatch(doc, r);
    if (b == "setuptools") setuptools(doc, r);
    if (b == "flit") flit(doc, r);
    if (b == "uv_build") uv_build(doc, r, project_name);
    if (b == "pdm") pdm(doc, r);
    if (!out.backend.empty()) break;
  }
  return out;
}

}  // namespace pb::vendor
