#include "snapshot/smoke.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "pep508/requirement.hpp"
#include "host/protocol.hpp"
#include "runtime/host.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"

namespace pb::snapshot {

namespace stdfs = std::filesystem;

namespace {

bool identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool python_file(const std::string& name) {
  return ends_with(name, ".py") || ends_with(name, ".pyc") || ends_with(name, ".so");
}

// "python_dateutil-2.8.2.dist-info" -> "python-dateutil" (PEP 503 normalised).
std::string distribution_of(const std::string& dist_info) {
  auto stem = dist_info.substr(0, dist_info.size() - std::string_view(".dist-info").size());
  return pep508::normalize_name(stem.substr(0, stem.find('-')));
}

// The first field of a RECORD line (CSV; a path holding a comma is quoted).
std::string record_path(const std::string& line) {
  if (!line.empty() && line[0] == '"') {
    std::string out;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          out += '"';
          ++i;
        } else {
          break;
        }
      } else {
        out += line[i];
      }
    }
    return out;
  }
  return line.substr(0, line.find(','));
}

// The module a top-level RECORD path provides: "six.py" -> six, "yaml/x.py" -> yaml,
// "_cffi.cpython-313-wasm32-emscripten.so" -> _cffi; "" for anything else.
std::string module_of(const std::string& path) {
  auto slash = path.find('/');
  if (slash != std::string::npos) {
    auto top = path.substr(0, slash);
    if (top == "__pycache__" || ends_with(top, ".dist-info") || ends_with(top, ".data")) return "";
    return python_file(path.substr(slash + 1)) && identifier(top) ? top : "";
  }
  if (!python_file(path)) return "";
  auto name = path.substr(0, path.find('.'));
  return identifier(name) ? name : "";
}

// Something importable named `module` lies in `dir`: a package directory, module.py, a
// sourceless module.pyc or an extension module.
bool present(const stdfs::path& dir, const std::string& module, const std::set<std::string>& entries) {
  std::error_code ec;
  if (stdfs::is_directory(dir / module, ec)) return true;
  for (auto it = entries.lower_bound(module + "."); it != entries.end() && it->starts_with(module + "."); ++it)
    if (python_file(*it)) return true;
  return false;
}

std::vector<std::string> lines_of(const stdfs::path& file) {
  std::vector<std::string> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace

std::vector<SmokeModule> vendored_modules(const stdfs::path& python_modules) {
  std::set<std::string> entries;
  std::vector<std::string> dist_infos;
  std::error_code ec;
  for (stdfs::directory_iterator it(python_modules, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    entries.insert(name);
    if (ends_with(name, ".dist-info") && it->is_directory()) dist_infos.push_back(name);
  }
  std::sort(dist_infos.begin(), dist_infos.end());
  std::map<std::string, std::vector<std::string>> owners;  // module -> distributions
  for (const auto& d : dist_infos) {
    auto dir = python_modules / d;
    std::set<std::string> mods;
    if (stdfs::is_regular_file(dir / "top_level.txt", ec)) {
      for (const auto& line : lines_of(dir / "top_level.txt"))
        if (identifier(line)) mods.insert(line);
    } else {
      for (const auto& line : lines_of(dir / "RECORD"))
        if (auto m = module_of(record_path(line)); !m.empty()) mods.insert(m);
    }
    auto dist = distribution_of(d);
    for (const auto& m : mods)
      if (present(python_modules, m, entries)) owners[m].push_back(dist);
  }
  std::vector<SmokeModule> out;
  for (auto& [module, dists] : owners) {
    std::string joined;
    for (const auto& d : dists) joined += (joined.empty() ? "" : ", ") + d;
    out.push_back({module, joined});
  }
  return out;
}

std::vector<SmokeModule> smoke_modules(const stdfs::path& bundle_dir, const bundle::Manifest& manifest) {
  std::vector<SmokeModule> out;
  std::string entry = manifest.entry ? manifest.entry->module : "";
  if (!entry.empty()) out.push_back({entry, ""});
  for (auto& m : vendored_modules(bundle_dir / "python_modules"))
    if (m.module != entry) out.push_back(std::move(m));
  return out;
}

std::vector<std::string> names(const std::vector<SmokeModule>& modules) {
  std::vector<std::string> out;
  for (const auto& m : modules) out.push_back(m.module);
  return out;
}

size_t SmokeReport::failed() const {
  return static_cast<size_t>(std::count_if(results.begin(), results.end(), [](const SmokeResult& r) { return !r.ok; }));
}

SmokeReport smoke(const stdfs::path& bundle_dir, const stdfs::path& runtime_dir,
                  const std::vector<std::string>& modules, const stdfs::path& cache_dir,
                  const std::vector<std::string>& host_args) {
  if (modules.empty()) return {};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::string> args{host::kModules, smoke_list(modules)};
  try {
    for (auto& a : app_source_args(bundle::read(bundle_dir))) args.push_back(std::move(a));
  } catch (const Error&) {
    // No readable bundle.json: tracebacks show bundle paths.
  }
  args.insert(args.end(), host_args.begin(), host_args.end());
  auto answer = runtime::run_host({host::kSmoke, runtime_dir, bundle_dir, cache_dir}, args);
  auto report = smoke_report(answer.value("modules", nlohmann::json::array()), modules.size());
  report.process_ms =
      std::round(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() * 10) / 10;
  report.timings = answer.value("timings_ms", nlohmann::json::object());
  report.missing_app_files = string_list(answer, "missing_app_files");
  report.handler_error = answer.value("handler_error", std::string());
  return report;
}

std::vector<std::string> string_list(const nlohmann::json& answer, const char* key) {
  std::vector<std::string> out;
  if (const auto& list = json_at(answer, key); list.is_array())
    for (const auto& v : list)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

std::string smoke_list(const std::vector<std::string>& modules) {
  std::string list;
  for (const auto& m : modules) {
    if (m.empty() || m.find(',') != std::string::npos)
      throw Error("smoke: '" + m + "' is not a module name", Exit::usage);
    list += (list.empty() ? "" : ",") + m;
  }
  return list;
}

SmokeReport smoke_report(const nlohmann::json& modules, size_t expected) {
  SmokeReport report;
  for (const auto& m : modules) {
    SmokeResult r;
    r.module = m.value("module", "");
    r.ok = m.value("ok", false);
    r.error = m.value("error", "");
    r.message = m.value("message", "");
    r.file = m.value("file", "");
    r.line = m.value("line", 0L);
    r.missing_module = m.value("missing_module", "");
    // A module that raises ModuleNotFoundError itself (a stub for a missing extension) sets no name.
    static const std::string prefix = "No module named '";
    if (r.missing_module.empty() && r.error == "ModuleNotFoundError" && r.message.starts_with(prefix) &&
        r.message.size() > prefix.size() + 1 && r.message.back() == '\'')
      r.missing_module = r.message.substr(prefix.size(), r.message.size() - prefix.size() - 1);
    r.missing_file = m.value("missing_file", "");
    r.traceback = m.value("traceback", "");
    r.hint = m.value("hint", "");
    r.ms = m.value("ms", 0.0);
    report.results.push_back(std::move(r));
  }
  if (report.results.size() != expected)
    throw Error("smoke: the JavaScript host answered for " + std::to_string(report.results.size()) + " of " +
                    std::to_string(expected) + " modules",
                Exit::internal);
  return report;
}

std::vector<std::string> culprits(const SmokeResult& failure, const std::vector<std::string>& removed) {
  std::vector<std::string> out;
  std::string file = failure.missing_file;
  if (file.starts_with("python_modules/")) file = file.substr(std::string_view("python_modules/").size());
  std::string module = failure.missing_module;
  std::replace(module.begin(), module.end(), '.', '/');
  for (const auto& r : removed) {
    bool hit = !failure.missing_file.empty() && r == file;
    if (!module.empty() && !hit)
      hit = r == module + ".py" || r.starts_with(module + "/") ||
            (r.starts_with(module + ".") && python_file(r) && r.find('/', module.size()) == std::string::npos);
    if (hit) out.push_back(r);
  }
  return out;
}

}  // namespace pb::snapshot
