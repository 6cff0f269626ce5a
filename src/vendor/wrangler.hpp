// A built bundle as a wrangler project (Cloudflare Python Workers): the app under src/, the
// vendored packages in python_modules/ at the root, and a wrangler.toml.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace pb::vendor {

// A compatibility date late enough for python_modules/ as the only vendor path (2025-08-11) and
// for dedicated snapshots (2025-10-16).
inline constexpr std::string_view kCompatibilityDate = "2025-10-16";

struct WranglerOptions {
  std::filesystem::path bundle;    // holds bundle.json
  std::filesystem::path out;       // the project directory to write (replaced when pybundle wrote it)
  std::string name;                // worker name; empty: bundle.json "name", else the entry module
  std::string compatibility_date;  // empty: kCompatibilityDate
};

struct WranglerExport {
  std::string name, main, compatibility_date;
  std::vector<std::string> flags;
  bool uploads_pyc = false;       // sourceless .pyc (--compile=drop-sources): python_modules.exclude = []
  uint64_t skipped_pyc = 0;       // __pycache__/*.pyc left out: wrangler would not upload them
  uint64_t files = 0, bytes = 0;  // what wrangler uploads: main, the other modules, python_modules/
  uint64_t gzip_bytes = 0;        // measured as wrangler's "Total Upload … gzip" is
};

// The compatibility flags that select the Cloudflare runtime running `python` ("3.13.2") at that
// compatibility date, plus the one that keeps module-level on_fetch working when `class_style` is
// false. Throws pb::Error
// (Exit::usage) when no Python Workers runtime runs that Python.
std::vector<std::string> python_worker_flags(const std::string& python, bool class_style,
                                             std::string_view compatibility_date = kCompatibilityDate);

// The entry's source is in the Workers style (a class Default, defined or imported, rather than a
// module-level on_fetch): read from its code, not its comments, docstrings or other strings.
bool is_class_style(std::string_view source);

// `dir` holds a wrangler.toml `pybundle export` wrote (its first line says so): the app's walk leaves it out.
bool is_export(const std::filesystem::path& dir);

// "My App_2" -> "my-app-2": what Cloudflare accepts as a worker name.
std::string worker_name(std::string_view text);

// The gzip size of the files' contents one after another (gzip level 6, as Node's gzipSync).
uint64_t gzip_concat_size(const std::vector<std::filesystem::path>& files);

// Copy the bundle's files (each checked against bundle.json) into a fresh directory and swap it
// into place. Throws pb::Error naming the file or the cause; `out` is untouched on failure.
WranglerExport export_wrangler(const WranglerOptions& options);

}  // namespace pb::vendor
