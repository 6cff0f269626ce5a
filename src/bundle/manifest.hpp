// bundle.json, the bundle's manifest (BUNDLE.md, schema 1), as a value: the one reader, the one
// writer, the one digest, and the one scan that hashes a bundle's files and fixes their modes and times.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace pb::bundle {

inline constexpr const char* kFile = "bundle.json";
// The snapshot build's import times, beside bundle.json (a measurement, so not in it).
inline constexpr const char* kImportTimes = "import-times.json";

// Each struct lists its fields in the order bundle.json has them.
struct Target {  // keys in alphabetical order, as every release wrote them
  std::string abi, platform, pyodide, python;
};

struct Entry {
  std::string path;    // "app/app.py"
  std::string module;  // "app"
  std::string source;  // the entry in the project ("src/app.py"); left out when empty
};

struct Package {
  std::string name, version, origin;         // origin: "lock-wheel", "pyodide", "source"
  std::optional<std::string> wheel, sha256;  // null for a source package
};

// Where a scanned file was on disk: the same inode, size and change time mean the same bytes
// (ctime cannot be set back, so any write or chmod since shows). Not written to bundle.json.
struct Stamp {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t ctime_sec = 0, ctime_nsec = 0;
  bool operator==(const Stamp&) const = default;
};

struct File {
  std::string path;  // "python_modules/..." or "app/..."
  std::string sha256;
  uint64_t size = 0;
  std::optional<Stamp> stamp;  // set by scan()
};

// What `pybundle snapshot` remakes the snapshot from. Keys in alphabetical order.
struct Recipe {
  std::optional<std::string> entry;
  std::optional<uint32_t> hash_seed;
  std::optional<std::vector<std::string>> preimport;
  std::optional<std::string> target;  // "pyodide@0.29.3"
};

// The snapshot's facts. Keys in alphabetical order; an absent one (a hand-made manifest) is left out.
struct Snapshot {
  std::optional<std::string> build_id;
  std::optional<uint64_t> entropy_warnings;
  std::optional<std::string> file;
  std::optional<uint32_t> hash_seed;
  std::optional<uint64_t> heap_size, libraries, modules;
  std::optional<std::string> pyodide;
  std::optional<uint64_t> raw_size;
  std::optional<Recipe> recipe;
  std::optional<std::string> sha256;
  std::optional<uint64_t> size;

  std::string file_name() const { return file.value_or("snapshot.bin.zst"); }
  nlohmann::ordered_json json() const;  // as in bundle.json
};

struct Manifest {
  int64_t schema = 1;
  std::string tool;  // "pybundle 0.1.0"
  Target target;
  std::optional<Entry> entry;  // null: no entry module
  std::vector<Package> packages;
  std::vector<File> files;  // sorted by path
  std::string digest;       // digest(files)
  std::optional<Snapshot> snapshot;
  std::string name;                         // the project's; left out when empty
  std::map<std::string, std::string> vars;  // a worker's env (self.env); left out when empty

  // Schema-1 keys the document read lacked ("target.pyodide", "digest", ...): run and serve do
  // without them, `check --bundle` does not.
  std::vector<std::string> missing;

  std::string text() const;  // the JSON text written, ending in a newline

  // Writes DIR/bundle.json atomically. With `mtime`, a bundle being built: bundle.json gets mode
  // 0644 and every directory 0755, all with that time.
  void write(const std::filesystem::path& dir, std::optional<int64_t> mtime = {}) const;

  // files and digest from what is under python_modules/ and app/ now (scan(), reusing the hashes
  // of files unchanged since the last scan).
  struct ScanStats {
    uint64_t hashed = 0, reused = 0, bytes = 0;
  };
  ScanStats rescan(const std::filesystem::path& dir, int64_t mtime);
};

// A manifest that cannot be used: a message naming the field (or "not valid JSON: ..."), without
// the file, which read() adds.
class Invalid : public Error {
 public:
  explicit Invalid(std::string problem) : Error(std::move(problem), Exit::usage) {}
};

// bundle.json's text to a Manifest. Throws Invalid for nesting deeper than 100 levels (before any
// parse), invalid JSON, a schema other than 1, a member of the wrong type, or a listed file path
// that is not a plain relative path under python_modules/ or app/.
Manifest parse(std::string_view text);

// DIR/bundle.json. Throws pb::Error: no bundle.json (Exit::usage, "DIR: no bundle.json here; ..."),
// unreadable (Exit::io), or "DIR/bundle.json: PROBLEM" (Exit::usage) for parse()'s problems.
Manifest read(const std::filesystem::path& dir);

// sha256 of "path<TAB>sha256<LF>" for every file, in the order given.
std::string digest(const std::vector<File>& files);

// Every regular file under DIR/python_modules/ and DIR/app/, sorted by path, with its sha256 and
// size; each gets mode 0644 and time `mtime`, as do the other files at the top (the snapshot)
// but bundle.json. A file of `known` whose stamp still matches is not read again. Throws
// pb::Error (Exit::internal) for anything that is not a regular file or directory, Exit::io
// when a file cannot be read or changed.
std::vector<File> scan(const std::filesystem::path& dir, int64_t mtime, const std::vector<File>& known = {},
                       Manifest::ScanStats* stats = nullptr);

// The bundle directory against the manifest, for `check --bundle`, in the order found: at the top
// only bundle.json, python_modules/, app/ and (with a snapshot) its file and import-times.json;
// below, only regular files; each listed file present with its size and sha256; nothing unlisted.
struct Problem {
  enum class Kind {
    not_bundle,   // at the top, not part of a bundle
    not_regular,  // a link, device, ..., or a directory where a file belongs (and the reverse)
    missing,      // listed, not there
    changed,      // message: "size 5 bytes, bundle.json says 3000" or "sha256 ..., bundle.json says ..."
    unreadable,   // message: the read error
    unlisted,     // under python_modules/ or app/, not listed
  } kind;
  std::string path;     // relative to the bundle
  std::string message;  // what is wrong, when the kind does not say it all
  bool is_dir = false;
  Exit exit = Exit::problems;
};
struct Verified {
  bool digest_ok = true;          // the digest matches the file list
  std::vector<Problem> problems;  // walk order, then listed files by path, then unlisted files
  uint64_t bytes = 0;             // of the listed files found
  std::string list_error;         // the directory could not be listed: no file was compared
};
Verified verify(const std::filesystem::path& dir, const Manifest& manifest);

// A path a manifest may list: relative, normalized, under python_modules/ or app/.
bool listable(std::string_view path);

}  // namespace pb::bundle
