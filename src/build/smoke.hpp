// The build's smoke gate: a trimmed bundle must still import what imported before trimming.
#pragma once
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "build/reporter.hpp"
#include "build/services.hpp"
#include "snapshot/smoke.hpp"
#include "vendor/vendor.hpp"

namespace pb::build {

// Fails the build (pb::Errors, Exit::problems) when the app tried to open a file under app/
// (`opened`, "app/config.yaml") at import that the project has but the app's file set left out,
// naming the file and the include glob that ships it. A file no glob can ship is a warning.
void fail_on_missing_app_files(const vendor::BundleSpec& spec, const std::vector<std::string>& opened,
                               Reporter& reporter);

// The host's --app-left-out: the modules and packages beside the entry in the project that the
// staged app/ lacks ("lib,helpers.py"), so a ModuleNotFoundError for one says so; {} for none.
std::vector<std::string> app_left_out_args(const vendor::BundleSpec& spec, const std::filesystem::path& staged);

// Started on the staged bundle right after vendoring. When nothing was trimmed only the entry is
// imported, and only without a snapshot (whose build imports it anyway): every build proves that its
// entry imports. With a snapshot (`snapshot`) nothing starts here: the snapshot's process imports
// modules() once the snapshot is written and hands the results to take(), so the build boots
// Pyodide once. `services` and `reporter` must outlive it.
class BuildSmoke {
 public:
  struct Context {
    const Services& services;
    Reporter& reporter;
    std::filesystem::path cache_dir;
  };
  BuildSmoke(const vendor::BundleSpec& spec, const vendor::Report& report, const std::filesystem::path& staged,
             const std::filesystem::path& runtime_dir, bool snapshot, Context context);
  ~BuildSmoke();
  std::vector<std::string> modules() const { return snapshot::names(modules_); }
  // The snapshot's process printed the entry's traceback already when its import failed.
  void take(const snapshot::SmokeReport& report) {
    report_ = report;
    traceback_shown_ = true;
  }
  // Waits for the run. A module that failed only because of the trim fails the build (pb::Errors,
  // Exit::problems) naming the module and the trimmed files; so does an entry that does not import
  // at all; a vendored module that fails without trimming too is a warning. Safe to call more than once (later calls do
  // nothing).
  void finish();

 private:
  std::string missing_app_file(const snapshot::SmokeResult& r) const;

  const vendor::BundleSpec& spec_;
  Context context_;
  std::filesystem::path staged_, runtime_;
  std::vector<vendor::Dropped> trimmed_;
  std::vector<snapshot::SmokeModule> modules_;
  std::optional<std::future<snapshot::SmokeReport>> run_;
  std::optional<snapshot::SmokeReport> report_;
  bool traceback_shown_ = false;
};

}  // namespace pb::build
