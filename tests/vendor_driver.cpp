// Drives the vendor stage from a JSON spec, the way `pybundle build` does: assemble (which writes
// the manifest), swap the bundle into place, optionally pack it. For integration tests and bench/.
// Usage: vendor_driver SPEC.json   (prints a JSON report; errors on stderr, pybundle's exit codes)
#include <iostream>

#include "nlohmann/json.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "vendor/vendor.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: vendor_driver SPEC.json\n";
    return 2;
  }
  try {
    auto j = nlohmann::json::parse(pb::fs::read_file(argv[1]));
    pb::vendor::BundleSpec spec;
    spec.out = j.at("out").get<std::string>();
    spec.app_dir = j.value("app_dir", std::string());
    spec.entry = j.value("entry", std::string());
    auto target = j.value("target", nlohmann::json::object());
    spec.target = {target.value("abi", ""), target.value("platform", ""), target.value("pyodide", ""),
                   target.value("python", "")};
    for (const auto& in : j.value("inputs", nlohmann::json::array()))
      spec.inputs.push_back({in.at("name"), in.at("version"), in.value("origin", "lock-wheel"),
                             in.value("filename", ""), in.value("sha256", ""), in.at("file").get<std::string>()});
    auto o = j.value("options", nlohmann::json::object());
    auto& opt = spec.options;
    opt.trim = o.value("trim", opt.trim);
    opt.exclude = o.value("exclude", opt.exclude);
    opt.keep = o.value("keep", opt.keep);
    opt.max_unpacked = o.value("max_unpacked", opt.max_unpacked);
    opt.max_ratio = o.value("max_ratio", opt.max_ratio);
    opt.max_entries = o.value("max_entries", opt.max_entries);
    opt.jobs = o.value("jobs", opt.jobs);
    if (o.contains("mtime")) opt.mtime = o["mtime"].get<int64_t>();

    pb::vendor::Report report;
    auto staged = pb::vendor::assemble(spec, &report);
    pb::fs::replace_dir(staged, spec.out);
    if (j.contains("archive"))
      pb::vendor::write_archive(spec.out, j["archive"].get<std::string>(),
                                opt.mtime ? *opt.mtime : pb::vendor::source_date_epoch());

    nlohmann::json out = {{"files", report.files}, {"bytes", report.bytes}, {"dropped", nlohmann::json::array()}};
    for (const auto& d : report.dropped)
      out["dropped"].push_back({{"wheel", d.wheel}, {"entry", d.entry}, {"reason", d.reason}, {"size", d.size}});
    std::cout << out.dump() << "\n";
  } catch (const pb::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "error: internal error: " << e.what() << "\n";
    return 4;
  }
  return 0;
}
