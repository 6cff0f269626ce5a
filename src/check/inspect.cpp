// Files are grouped by the distribution whose RECORD names their top-level module (bytecode that
// --compile added is not in any RECORD, so the top-level name decides, not the exact path).
#include "check/inspect.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "check/project_checks.hpp"
#include "pep508/requirement.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "vendor/wrangler.hpp"

namespace pb::check {

namespace stdfs = std::filesystem;

namespace {

constexpr std::string_view kModules = "python_modules/";

// "jinja2/ext.py" -> "jinja2"; "six.py", "six.pyc", "__pycache__/six.cpython-313.pyc" -> "six".
std::string top_level(std::string_view rel) {
  auto slash = rel.find('/');
  std::string_view first = rel.substr(0, slash);
  if (first == "__pycache__" && slash != std::string_view::npos) first = rel.substr(slash + 1);
  else if (slash != std::string_view::npos) return std::string(first);
  return std::string(first.substr(0, first.find('.')));
}

}  // namespace

Inspection inspect(const stdfs::path& bundle, const bundle::Manifest& manifest) {
  const auto& files = manifest.files;
  // A listed file that is gone is the bundle's fault: said as export says it, not as an internal error.
  for (const auto& f : files) {
    std::error_code ec;
    if (!stdfs::is_regular_file(bundle / f.path, ec))
      throw Error((bundle / f.path).string() + ": listed in bundle.json but " +
                      (stdfs::exists(bundle / f.path, ec) ? "not a regular file" : "missing") + "; rebuild the bundle",
                  Exit::problems);
  }
  std::map<std::string, std::string> versions;  // normalized name -> version
  for (const auto& p : manifest.packages) versions[pep508::normalize_name(p.name)] = p.version;

  // Top-level module -> distribution, from every RECORD; a .dist-info directory is its own.
  std::map<std::string, std::string> owner;
  for (const auto& f : files) {
    const std::string& rel = f.path;
    if (!rel.starts_with(kModules) || !rel.ends_with(".dist-info/RECORD")) continue;
    std::string dir = rel.substr(kModules.size(), rel.size() - kModules.size() - 7);  // "name-1.0.dist-info"
    std::string stem = dir.substr(0, dir.size() - 10);
    std::string dist = pep508::normalize_name(stem.substr(0, stem.rfind('-')));
    owner[dir] = dist;
    std::istringstream in(fs::read_file(bundle / rel));
    for (std::string line; std::getline(in, line);) {
      std::string path = line.substr(0, line.find(','));
      if (path.empty() || path.starts_with("..") || path.starts_with("/")) continue;
      auto top = top_level(path);
      if (!top.empty() && !top.ends_with(".dist-info") && !top.ends_with(".data")) owner.emplace(top, dist);
    }
  }

  std::map<std::string, Contributor> by_name;
  std::map<std::string, std::vector<stdfs::path>> paths;
  Inspection r;
  std::vector<stdfs::path> all;
  for (const auto& f : files) {
    const std::string& rel = f.path;
    std::string name, top;
    if (rel.starts_with("app/")) {
      name = "(app)";
      top = top_level(rel.substr(4));
    } else if (rel.starts_with(kModules)) {
      top = top_level(rel.substr(kModules.size()));
      auto it = owner.find(top);
      name = it != owner.end() ? it->second : "(other)";
      if (top.ends_with(".dist-info")) top.clear();
    } else {
      continue;  // bundle.json, the snapshot: not uploaded
    }
    auto& c = by_name[name];
    c.name = name;
    if (auto v = versions.find(name); v != versions.end()) c.version = v->second;
    if (!top.empty() && std::find(c.modules.begin(), c.modules.end(), top) == c.modules.end()) c.modules.push_back(top);
    uint64_t size = f.size;
    c.files += 1;
    c.bytes += size;
    r.files += 1;
    r.bytes += size;
    paths[name].push_back(bundle / rel);
    all.push_back(bundle / rel);
  }

  // Import times the snapshot's import measured: [{"where": "python_modules"|"app", "module", "ms"}].
  nlohmann::json imports;
  if (std::error_code ec; stdfs::exists(bundle / snapshot::kImportTimesFile, ec))
    imports = nlohmann::json::parse(fs::read_file(bundle / snapshot::kImportTimesFile), nullptr, false);
  r.import_times = imports.is_array();
  if (r.import_times) {
    // A distribution none of whose modules the snapshot imported keeps no time (shown "-"), not 0 ms:
    // an entry that imports it lazily, in a request, pays its import there.
    for (const auto& i : imports) {
      std::string mod = json_string(i, "module");
      std::string name = json_string(i, "where") == "app" ? "(app)" : [&] {
        auto it = owner.find(mod);
        return it != owner.end() ? it->second : std::string("(other)");
      }();
      auto it = by_name.find(name);
      if (it != by_name.end() && i.contains("ms") && i["ms"].is_number())
        it->second.import_ms = it->second.import_ms.value_or(0.0) + i["ms"].get<double>();
    }
  }

  uint64_t summed = 0;
  for (auto& [name, c] : by_name) {
    c.gzip_bytes = vendor::gzip_concat_size(paths[name]);
    summed += c.gzip_bytes;
    std::sort(c.modules.begin(), c.modules.end());
    r.contributors.push_back(std::move(c));
  }
  for (auto& c : r.contributors) c.share = summed ? static_cast<double>(c.gzip_bytes) / static_cast<double>(summed) : 0;
  std::stable_sort(r.contributors.begin(), r.contributors.end(),
                   [](const Contributor& a, const Contributor& b) { return a.gzip_bytes > b.gzip_bytes; });
  r.gzip_bytes = vendor::gzip_concat_size(all);
  return r;
}

std::string top_contributors(const Inspection& inspection, size_t n) {
  std::string out;
  size_t shown = 0;
  for (const auto& c : inspection.contributors) {
    if (shown++ == n) break;
    out += (out.empty() ? "" : ", ") + c.name + (c.version.empty() ? "" : " " + c.version) + " (" +
           human_size(c.gzip_bytes) + " gzipped, " + fmt::format("{:.0f}%", c.share * 100) + ")";
  }
  return out;
}

}  // namespace pb::check
