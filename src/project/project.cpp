#include "project/project.hpp"

#include <fnmatch.h>
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include <toml++/toml.h>

#include "pep508/requirement.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/toml.hpp"

namespace pb::project {

namespace {

// Collects every problem of one file, each "FILE:LINE: message".
class Reporter {
 public:
  explicit Reporter(std::string file) : file_(std::move(file)) {}
  void add(const toml::node* node, const std::string& message) {
    long line = node ? static_cast<long>(node->source().begin.line) : 0;
    problems_.push_back(file_error(file_, line, message).what());
  }
  void add(const toml::node& node, const std::string& message) { add(&node, message); }
  void raise() const {
    if (problems_.size() == 1) throw Error(problems_.front(), Exit::usage);
    if (!problems_.empty()) throw Errors(problems_, Exit::usage);
  }

 private:
  std::string file_;
  std::vector<std::string> problems_;
};

std::optional<std::string> get_string(Reporter& r, const toml::table& t, std::string_view key,
                                      const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto s = n->value<std::string>()) return *s;
  r.add(n, where + "." + std::string(key) + " must be a string");
  return std::nullopt;
}

std::vector<std::string> get_strings(Reporter& r, const toml::table& t, std::string_view key,
                                     const std::string& where) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) {
    r.add(n, where + "." + std::string(key) + " must be an array of strings");
    return out;
  }
  for (const auto& e : *a) {
    if (auto s = e.value<std::string>()) out.push_back(*s);
    else r.add(e, where + "." + std::string(key) + " must contain only strings");
  }
  return out;
}

// An array of PEP 508 requirement strings, each checked.
std::vector<std::string> get_requirements(Reporter& r, const toml::node& n, const std::string& where) {
  std::vector<std::string> out;
  const toml::array* a = n.as_array();
  if (!a) {
    r.add(n, where + " must be an array of requirement strings");
    return out;
  }
  for (const auto& e : *a) {
    auto s = e.value<std::string>();
    if (!s) {
      r.add(e, where + " must contain only requirement strings");
      continue;
    }
    try {
      pep508::Requirement::parse(*s);
      out.push_back(*s);
    } catch (const Error& err) {
      r.add(e, where + ": " + err.what());
    }
  }
  return out;
}

void read_project_table(Reporter& r, const toml::table& t, Project& p) {
  p.has_project_table = true;
  if (auto name = get_string(r, t, "name", "project")) {
    p.name = *name;
  } else if (!t.contains("name")) {
    r.add(t, "[project] has no name (PEP 621 requires one)");
  }
  if (auto v = get_string(r, t, "version", "project")) p.version = *v;
  if (auto v = get_string(r, t, "requires-python", "project")) p.requires_python = *v;
  for (auto& d : get_strings(r, t, "dynamic", "project")) p.dynamic.push_back(pep508::normalize_name(d));
  if (const toml::node* deps = t.get("dependencies"))
    p.dependencies = get_requirements(r, *deps, "project.dependencies");
  if (const toml::node* opt = t.get("optional-dependencies")) {
    if (const toml::table* ot = opt->as_table()) {
      for (const auto& [extra, list] : *ot)
        p.optional_dependencies[pep508::normalize_name(extra.str())] =
            get_requirements(r, list, "project.optional-dependencies." + std::string(extra.str()));
    } else {
      r.add(opt, "project.optional-dependencies must be a table");
    }
  }
}

void read_groups(Reporter& r, const toml::table& root, Project& p) {
  const toml::node* n = root.get("dependency-groups");
  if (!n) return;
  const toml::table* t = n->as_table();
  if (!t) {
    r.add(n, "[dependency-groups] must be a table");
    return;
  }
  for (const auto& [key, value] : *t) {
    std::string where = "dependency-groups." + std::string(key.str());
    std::string group = pep508::normalize_name(key.str());
    auto& out = p.dependency_groups[group];
    const toml::array* a = value.as_array();
    if (!a) {
      r.add(value, where + " must be an array");
      continue;
    }
    for (const auto& e : *a) {
      if (auto s = e.value<std::string>()) {
        try {
          pep508::Requirement::parse(*s);
          out.push_back(*s);
        } catch (const Error& err) {
          r.add(e, where + ": " + err.what());
        }
      } else if (const toml::table* inc = e.as_table()) {
        auto target = inc->get("include-group");
        auto target_name = target ? target->value<std::string>() : std::nullopt;
        if (!target_name || inc->size() != 1) {
          r.add(e, where + ": a table entry must be {include-group = \"NAME\"} only");
          continue;
        }
        out.push_back("include-group:" + pep508::normalize_name(*target_name));
      } else {
        r.add(e, where + " must contain requirement strings or {include-group = …} tables");
      }
    }
  }
}

void read_tool_uv(Reporter& r, const toml::table& uv, Project& p) {
  if (const toml::node* dev = uv.get("dev-dependencies")) {
    auto reqs = get_requirements(r, *dev, "tool.uv.dev-dependencies");
    auto& group = p.dependency_groups["dev"];
    group.insert(group.end(), reqs.begin(), reqs.end());
  }
  if (const toml::node* dg = uv.get("default-groups")) {
    if (auto s = dg->value<std::string>()) {
      if (*s == "all") p.default_groups_all = true;
      else r.add(dg, "tool.uv.default-groups must be \"all\" or an array of group names");
    } else {
      std::vector<std::string> groups;
      for (auto& g : get_strings(r, uv, "default-groups", "tool.uv")) groups.push_back(pep508::normalize_name(g));
      p.default_groups = groups;
    }
  }
  if (const toml::node* pk = uv.get("package")) {
    if (auto b = pk->value<bool>()) p.uv_package = *b;
    else r.add(pk, "tool.uv.package must be true or false");
  }
  if (const toml::node* ws = uv.get("workspace")) {
    if (const toml::table* wt = ws->as_table()) {
      p.workspace_members = get_strings(r, *wt, "members", "tool.uv.workspace");
      p.workspace_exclude = get_strings(r, *wt, "exclude", "tool.uv.workspace");
    } else {
      r.add(ws, "[tool.uv.workspace] must be a table");
    }
  }
  if (const toml::node* dg = uv.get("dependency-groups")) {
    if (const toml::table* t = dg->as_table()) {
      for (const auto& [group, settings] : *t) {
        const toml::table* st = settings.as_table();
        if (!st) {
          r.add(settings, "tool.uv.dependency-groups." + std::string(group.str()) + " must be a table");
          continue;
        }
        if (auto rp = get_string(r, *st, "requires-python", "tool.uv.dependency-groups." + std::string(group.str())))
          p.group_requires_python[pep508::normalize_name(group.str())] = *rp;
      }
    } else {
      r.add(dg, "[tool.uv.dependency-groups] must be a table");
    }
  }
  if (const toml::node* src = uv.get("sources")) {
    const toml::table* st = src->as_table();
    if (!st) {
      r.add(src, "[tool.uv.sources] must be a table");
      return;
    }
    for (const auto& [name, value] : *st) {
      const toml::table* entry = value.as_table();
      if (const toml::array* a = value.as_array(); a && !a->empty()) entry = (*a)[0].as_table();
      if (!entry) {
        r.add(value, "tool.uv.sources." + std::string(name.str()) + " must be a table or an array of tables");
        continue;
      }
      UvSource s;
      for (const char* kind : {"workspace", "path", "git", "url", "index"}) {
        if (const toml::node* k = entry->get(kind)) {
          s.kind = kind;
          if (auto v = k->value<std::string>()) s.value = *v;
          break;
        }
      }
      if (s.kind.empty()) {
        r.add(value, "tool.uv.sources." + std::string(name.str()) + " needs one of workspace, path, git, url or index");
        continue;
      }
      if (const toml::node* ed = entry->get("editable")) s.editable = ed->value<bool>().value_or(false);
      p.sources[pep508::normalize_name(name.str())] = s;
    }
  }
}

void read_mirrors(Reporter& r, const toml::node& n, Config& c) {
  auto check = [&](const toml::node& at, const std::string& from, const std::string& to) {
    if (from.empty() || to.empty()) r.add(at, "tool.pybundle.mirrors: empty URL prefix");
    else c.mirrors.emplace_back(from, to);
  };
  if (const toml::table* t = n.as_table()) {
    for (const auto& [from, to] : *t) {
      if (auto s = to.value<std::string>()) check(to, std::string(from.str()), *s);
      else r.add(to, "tool.pybundle.mirrors values must be URL strings");
    }
  } else if (const toml::array* a = n.as_array()) {
    for (const auto& e : *a) {
      if (auto text = e.value<std::string>(); text && e.is_string()) {  // "FROM=TO", as --mirror takes it
        auto eq = text->find('=');
        if (eq == std::string::npos)
          r.add(e, "tool.pybundle.mirrors: '" + *text + "': expected \"FROM=TO\" (two URL prefixes)");
        else check(e, text->substr(0, eq), text->substr(eq + 1));
        continue;
      }
      const toml::table* t = e.as_table();
      auto from = t ? t->get("from") : nullptr;
      auto to = t ? t->get("to") : nullptr;
      if (!from || !to || !from->is_string() || !to->is_string()) {
        r.add(e, "tool.pybundle.mirrors entries must be \"FROM=TO\" or {from = \"URL\", to = \"URL\"}");
        continue;
      }
      check(e, *from->value<std::string>(), *to->value<std::string>());
    }
  } else {
    r.add(n, "tool.pybundle.mirrors must be a table {\"FROM\" = \"TO\"} or an array of \"FROM=TO\" or {from, to}");
  }
}

void read_tool_pybundle(Reporter& r, const toml::table& t, Config& c) {
  static const std::set<std::string, std::less<>> known = {"target",  "entry",       "include", "preimport",
                                                           "exclude", "size-budget", "mirrors", "pyodide-index",
                                                           "stdlib",  "vars"};
  for (const auto& [key, value] : t)
    if (!known.count(key.str())) r.add(value, "unknown key '" + std::string(key.str()) + "' in [tool.pybundle]");
  c.target = get_string(r, t, "target", "tool.pybundle");  // checked where the target is resolved
  c.entry = get_string(r, t, "entry", "tool.pybundle");
  if (c.entry && c.entry->empty()) {  // else the build imports a module named ''
    r.add(t.get("entry"), "tool.pybundle.entry is empty: name the entry module's file, e.g. \"src/app.py\"");
    c.entry.reset();
  }
  c.preimport = get_strings(r, t, "preimport", "tool.pybundle");
  for (const auto& m : c.preimport)  // else the build fails only after every download
    if (!is_module_name(m))
      r.add(t.get("preimport"), "tool.pybundle.preimport: '" + m + "' is not a module name (such as \"jinja2.ext\")");
  c.exclude = get_strings(r, t, "exclude", "tool.pybundle");
  if (t.get("include")) c.include = get_strings(r, t, "include", "tool.pybundle");
  // Globs match paths inside the bundle: one that leaves it would silently match nothing.
  auto inside = [&](const char* key, const std::vector<std::string>& globs) {
    for (const auto& g : globs)
      if (g.starts_with('/') || g == ".." || g.starts_with("../") || g.find("/../") != std::string::npos ||
          g.ends_with("/.."))
        r.add(t.get(key), std::string("tool.pybundle.") + key + ": '" + g +
                              "' points outside the bundle, so it can never match: globs match paths inside it");
  };
  inside("exclude", c.exclude);
  if (c.include) inside("include", *c.include);
  c.stdlib = get_strings(r, t, "stdlib", "tool.pybundle");
  for (auto& s : c.stdlib) s = pep508::normalize_name(s);
  if (const toml::node* sb = t.get("size-budget")) {
    if (auto i = sb->value<int64_t>(); i && sb->is_integer()) {
      if (*i < 0) r.add(sb, "tool.pybundle.size-budget must not be negative");
      else c.size_budget = static_cast<uint64_t>(*i);
    } else if (auto s = sb->value<std::string>()) {
      try {
        c.size_budget = parse_size(*s);
      } catch (const Error& e) {
        r.add(sb, std::string("tool.pybundle.size-budget: ") + e.what());
      }
    } else {
      r.add(sb, "tool.pybundle.size-budget must be a size such as \"10MiB\" or a number of bytes");
    }
  }
  if (const toml::node* m = t.get("mirrors")) read_mirrors(r, *m, c);
  if (const toml::node* v = t.get("vars")) {
    if (const toml::table* vt = v->as_table()) {
      for (const auto& [key, value] : *vt) {
        if (auto s = value.value<std::string>(); s && value.is_string()) c.vars[std::string(key.str())] = *s;
        else r.add(value, "tool.pybundle.vars." + std::string(key.str()) + " must be a string");
      }
    } else {
      r.add(v, "tool.pybundle.vars must be a table {NAME = \"value\"}");
    }
  }
  c.pyodide_index = get_string(r, t, "pyodide-index", "tool.pybundle");
  if (c.pyodide_index && !c.pyodide_index->empty() && c.pyodide_index->back() != '/') *c.pyodide_index += '/';
}

void expand_members(Project& p) {
  std::set<std::filesystem::path> seen;
  auto root = std::filesystem::weakly_canonical(p.dir);
  for (const auto& pattern : p.workspace_members) {
    glob_t g{};
    std::string full = (p.dir / pattern).string();
    if (::glob(full.c_str(), GLOB_ONLYDIR, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        std::filesystem::path dir = g.gl_pathv[i];
        auto rel = std::filesystem::path(dir).lexically_relative(p.dir).lexically_normal().string();
        bool excluded = std::any_of(p.workspace_exclude.begin(), p.workspace_exclude.end(),
                                    [&](const std::string& ex) { return ::fnmatch(ex.c_str(), rel.c_str(), 0) == 0; });
        auto canon = std::filesystem::weakly_canonical(dir);
        if (excluded || canon == root || !seen.insert(canon).second) continue;
        if (!std::filesystem::exists(dir / "pyproject.toml")) continue;
        p.members.push_back(load_file(dir / "pyproject.toml"));
      }
    }
    ::globfree(&g);
  }
}

}  // namespace

std::string display_path(const std::filesystem::path& path) {
  auto s = path.lexically_normal().string();
  if (s.rfind("./", 0) == 0) s = s.substr(2);
  return s;
}

Project parse(std::string_view text, const std::filesystem::path& file) {
  Project p;
  p.file = file;
  p.dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  std::string shown = display_path(file);
  toml::table root = parse_toml(text, shown);
  Reporter r(shown);
  if (const toml::node* n = root.get("project")) {
    if (const toml::table* t = n->as_table()) read_project_table(r, *t, p);
    else r.add(n, "[project] must be a table");
  }
  read_groups(r, root, p);
  if (const toml::node* bs = root.get("build-system"); bs && bs->is_table()) {
    const toml::table& t = *bs->as_table();
    if (auto b = get_string(r, t, "build-backend", "build-system")) p.build_backend = *b;
    p.build_requires = get_strings(r, t, "requires", "build-system");
  }
  if (const toml::table* tool = root["tool"].as_table()) {
    if (const toml::node* uv = tool->get("uv")) {
      if (const toml::table* t = uv->as_table()) read_tool_uv(r, *t, p);
      else r.add(uv, "[tool.uv] must be a table");
    }
    if (const toml::node* pb = tool->get("pybundle")) {
      if (const toml::table* t = pb->as_table()) read_tool_pybundle(r, *t, p.config);
      else r.add(pb, "[tool.pybundle] must be a table");
    }
  }
  r.raise();
  // Include-group targets must exist and not cycle: check every group once.
  std::vector<std::string> problems;
  for (const auto& [group, _] : p.dependency_groups) {
    try {
      p.group_requirements(group);
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  if (problems.size() == 1) throw Error(problems.front(), Exit::usage);
  if (!problems.empty()) throw Errors(problems, Exit::usage);
  return p;
}

Project load_file(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file))
    throw Error(display_path(file) + ": not found (a project needs a pyproject.toml)", Exit::usage);
  return parse(fs::read_file(file), file);
}

Project load(const std::filesystem::path& dir) {
  Project p = load_file(dir / "pyproject.toml");
  expand_members(p);
  return p;
}

std::vector<std::string> Project::group_requirements(const std::string& group) const {
  std::vector<std::string> out;
  std::vector<std::string> stack;
  auto visit = [&](auto&& self, const std::string& name) -> void {
    auto it = dependency_groups.find(name);
    if (it == dependency_groups.end())
      throw Error(display_path(file) + ": dependency group '" + name + "' is not defined" +
                      (stack.empty() ? "" : " (included from '" + stack.back() + "')"),
                  Exit::usage);
    if (std::find(stack.begin(), stack.end(), name) != stack.end())
      throw Error(display_path(file) + ": dependency group '" + name + "' includes itself", Exit::usage);
    stack.push_back(name);
    for (const auto& entry : it->second) {
      if (entry.rfind("include-group:", 0) == 0) self(self, entry.substr(14));
      else out.push_back(entry);
    }
    stack.pop_back();
  };
  visit(visit, pep508::normalize_name(group));
  return out;
}

bool is_module_name(std::string_view name) {
  bool start = true;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '.') {
      if (start) return false;
      start = true;
      continue;
    }
    bool letter = std::isalpha(c) || c == '_' || c >= 0x80;  // identifiers may be non-ASCII
    if (!letter && (start || !std::isdigit(c))) return false;
    start = false;
  }
  return !start;
}

uint64_t parse_size(std::string_view text) {
  std::string s(text);
  auto bad = [&]() {
    return Error("'" + s + "' is not a size (use e.g. \"10MiB\", \"500 kB\" or a number of bytes)", Exit::usage);
  };
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  size_t start = i;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == start) throw bad();
  double number = 0;
  try {
    size_t used = 0;
    number = std::stod(s.substr(start, i - start), &used);
    if (used != i - start) throw bad();
  } catch (const std::logic_error&) {
    throw bad();
  }
  while (i < s.size() && s[i] == ' ') ++i;
  std::string unit;
  for (; i < s.size() && s[i] != ' '; ++i) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  while (i < s.size() && s[i] == ' ') ++i;
  if (i != s.size()) throw bad();
  static const std::map<std::string, double> units = {
      {"", 1},         {"b", 1},           {"kb", 1e3},          {"mb", 1e6},
      {"gb", 1e9},     {"k", 1024.0},      {"m", 1048576.0},     {"g", 1073741824.0},
      {"kib", 1024.0}, {"mib", 1048576.0}, {"gib", 1073741824.0}};
  auto it = units.find(unit);
  if (it == units.end()) throw bad();
  double bytes = number * it->second;
  if (!std::isfinite(bytes) || bytes > 9e18) throw bad();
  return static_cast<uint64_t>(std::llround(bytes));
}

}  // namespace pb::project
