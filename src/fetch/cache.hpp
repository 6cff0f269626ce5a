// The content-addressed download cache: <root>/wheels/<aa>/<sha256>. A download in progress is
// "<sha256>.part"; whoever holds an flock on that file owns the entry until it is renamed into place,
// so concurrent builds sharing the cache never fetch the same file twice.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pb::fetch {

// An exclusive flock on an entry's open .part file, released with the file descriptor (on
// destruction, or by the kernel if the process dies).
class EntryLock {
 public:
  EntryLock() = default;
  explicit EntryLock(int fd) : fd_(fd) {}
  EntryLock(EntryLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  EntryLock& operator=(EntryLock&& o) noexcept;
  EntryLock(const EntryLock&) = delete;
  EntryLock& operator=(const EntryLock&) = delete;
  ~EntryLock();
  bool held() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  int detach() { return std::exchange(fd_, -1); }  // the caller closes it (and so releases the lock)
  void release();

 private:
  int fd_ = -1;
};

class Cache {
 public:
  explicit Cache(std::filesystem::path root) : root_(std::move(root)) {}
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path entry(const std::string& sha256) const;
  std::filesystem::path partial(const std::string& sha256) const;

  // A complete entry exists (it was verified before it was renamed into place).
  bool has(const std::string& sha256) const;
  // Hashes the entry before it is used: what anyone with write access to the cache may have
  // changed is not trusted. An entry that is not a regular file or does not hash to its name is
  // removed (evicted; `why` says what was wrong with which file).
  enum class Entry { absent, good, evicted };
  Entry verify(const std::string& sha256, std::string* why = nullptr) const;
  // Marks an entry as used now, for `cache prune` (best effort: a read-only cache is fine).
  void touch(const std::string& sha256) const;
  // Creates the directories and a CACHEDIR.TAG. Throws pb::Error (Exit::io).
  void ensure() const;
  // Opens (creating if needed) and locks the entry's .part file; nullopt when another process
  // holds it. The file keeps whatever an interrupted run left. Throws pb::Error (Exit::io).
  std::optional<EntryLock> try_lock(const std::string& sha256) const;

 private:
  std::filesystem::path root_;
};

struct CacheStats {
  size_t files = 0;
  uint64_t bytes = 0;
  std::vector<std::string> kept;  // clean: entries of the directory pybundle did not write
};

// Removes entries and abandoned partial downloads not used for max_age. Skips downloads in progress.
CacheStats prune_cache(const std::filesystem::path& root, std::chrono::seconds max_age);

// Removes what pybundle keeps in the cache directory (wheels/, heaps/, host/, runtimes/, v8/, the
// tag, inspect's temporary copies), never another file there. Refuses (Exit::usage) a directory
// that holds no CACHEDIR.TAG unless it is the default location, so a mistyped --cache-dir cannot
// wipe a folder.
CacheStats clean_cache(const std::filesystem::path& root, bool is_default_location);

bool is_sha256_hex(const std::string& s);

}  // namespace pb::fetch
