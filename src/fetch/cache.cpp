#include "fetch/cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace pb::fetch {

namespace stdfs = std::filesystem;

namespace {

Error io_error(const std::string& what, const stdfs::path& path) {
  return Error("cache: " + what + " " + path.string() + ": " + std::strerror(errno), Exit::io);
}

constexpr const char* kTag =
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pybundle.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n";

bool older_than(const stdfs::path& p, std::chrono::system_clock::time_point cutoff, uint64_t* size) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) return false;
  if (size) *size = static_cast<uint64_t>(st.st_size);
  return std::chrono::system_clock::from_time_t(st.st_mtime) < cutoff;
}

}  // namespace

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

EntryLock& EntryLock::operator=(EntryLock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

EntryLock::~EntryLock() {
  release();
}

void EntryLock::release() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the flock
  fd_ = -1;
}

stdfs::path Cache::entry(const std::string& sha256) const {
  return root_ / "wheels" / sha256.substr(0, 2) / sha256;
}

stdfs::path Cache::partial(const std::string& sha256) const {
  auto p = entry(sha256);
  p += ".part";
  return p;
}

bool Cache::has(const std::string& sha256) const {
  struct stat st;
  return ::lstat(entry(sha256).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Cache::Entry Cache::verify(const std::string& sha256, std::string* why) const {
  auto path = entry(sha256);
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return Entry::absent;
  std::string problem;
  struct stat st;
  if (fd < 0) {
    problem = errno == ELOOP ? "is a symbolic link" : std::string("cannot be read: ") + std::strerror(errno);
  } else if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    problem = "is not a regular file";
  } else {
    Hash h;
    char buf[1 << 16];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) h.update(buf, static_cast<size_t>(n));
    if (n < 0) problem = std::string("cannot be read: ") + std::strerror(errno);
    else if (h.hex() != sha256) problem = "does not hash to its name (changed since it was stored)";
  }
  if (fd >= 0) ::close(fd);
  if (problem.empty()) return Entry::good;
  if (why) *why = "cache entry " + path.string() + " " + problem;
  std::error_code ec;
  stdfs::remove_all(path, ec);
  return Entry::evicted;
}

void Cache::touch(const std::string& sha256) const {
  ::utimensat(AT_FDCWD, entry(sha256).c_str(), nullptr, 0);
}

void Cache::ensure() const {
  std::error_code ec;
  stdfs::create_directories(root_ / "wheels", ec);
  if (ec) throw Error("cache: cannot create " + (root_ / "wheels").string() + ": " + ec.message(), Exit::io);
  // Not worth an fsync: a torn tag only makes `cache clean` ask for the default location.
  auto tag = root_ / "CACHEDIR.TAG";
  int fd = ::open(tag.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd >= 0) {
    bool ok = ::write(fd, kTag, std::strlen(kTag)) == static_cast<ssize_t>(std::strlen(kTag));
    ::close(fd);
    if (!ok) ::unlink(tag.c_str());
  }
}

std::optional<EntryLock> Cache::try_lock(const std::string& sha256) const {
  auto path = partial(sha256);
  if (::mkdir(path.parent_path().c_str(), 0755) != 0 && errno != EEXIST) {
    ensure();
    if (::mkdir(path.parent_path().c_str(), 0755) != 0 && errno != EEXIST)
      throw io_error("cannot create directory", path.parent_path());
  }
  for (int attempt = 0; attempt < 16; ++attempt) {
    // Never through a symbolic link, and only into a regular file with one name: anything else
    // planted at the path is removed and the file created afresh.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    struct stat planted;
    if (fd < 0 && errno == ELOOP) {
      ::unlink(path.c_str());
      continue;
    }
    if (fd < 0) throw io_error("cannot open", path);
    if (::fstat(fd, &planted) != 0 || !S_ISREG(planted.st_mode) || planted.st_nlink != 1) {
      ::close(fd);
      std::error_code ec;
      stdfs::remove_all(path, ec);
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0 && errno == EEXIST) continue;
      if (fd < 0) throw io_error("cannot open", path);
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) return std::nullopt;
      if (err == EINTR) continue;
      errno = err;
      throw io_error("cannot lock", path);
    }
    // The holder we waited for may have renamed the file into place, or removed it, between our
    // open and flock: then the lock guards nothing. Open whatever is at the path now.
    struct stat held, now;
    if (::fstat(fd, &held) == 0 && ::stat(path.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
        held.st_dev == now.st_dev)
      return EntryLock(fd);
    ::close(fd);
  }
  return std::nullopt;
}

CacheStats prune_cache(const stdfs::path& root, std::chrono::seconds max_age) {
  CacheStats stats;
  auto cutoff = std::chrono::system_clock::now() - max_age;
  std::error_code ec;
  auto wheels = root / "wheels";
  // A symbolic link is never followed: what it leads to is not the cache's to delete.
  if (stdfs::is_symlink(wheels, ec) || !stdfs::is_directory(wheels, ec)) return stats;
  for (const auto& shard : stdfs::directory_iterator(wheels, ec)) {
    if (shard.is_symlink(ec) || !shard.is_directory(ec)) continue;
    std::vector<stdfs::path> names;
    for (const auto& e : stdfs::directory_iterator(shard.path(), ec)) names.push_back(e.path());
    for (const auto& p : names) {
      std::string name = p.filename().string();
      if (!is_sha256_hex(name.substr(0, 64))) continue;
      std::string suffix = name.substr(64);
      uint64_t size = 0;
      if ((suffix != "" && suffix != ".part") || !older_than(p, cutoff, &size)) continue;
      if (suffix == ".part") {
        // Only an abandoned download: a build in progress holds the lock.
        int fd = ::open(p.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat held, now;
        bool ours = ::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::fstat(fd, &held) == 0 && ::stat(p.c_str(), &now) == 0 &&
                    held.st_ino == now.st_ino;
        if (ours && ::unlink(p.c_str()) == 0) {
          ++stats.files;
          stats.bytes += size;
        }
        ::close(fd);
      } else if (older_than(p, cutoff, nullptr) && ::unlink(p.c_str()) == 0) {
        ++stats.files;
        stats.bytes += size;
      }
    }
    ::rmdir(shard.path().c_str());  // only succeeds when empty
  }
  return stats;
}

CacheStats clean_cache(const stdfs::path& root, bool is_default_location) {
  CacheStats stats;
  std::error_code ec;
  if (!stdfs::exists(root, ec)) return stats;
  if (!is_default_location && !stdfs::exists(root / "CACHEDIR.TAG", ec))
    throw Error("refusing to clean " + root.string() +
                    ": it holds no CACHEDIR.TAG, so it may not be a pybundle cache (remove it by hand)",
                Exit::usage);
  // Only what pybundle writes there: a build may have been pointed (--cache-dir) at a directory
  // that already held other files, and tagged it.
  static const std::set<std::string> ours{"CACHEDIR.TAG", "wheels", "heaps", "host", "runtimes", "v8"};
  auto is_ours = [](const std::string& name) {  // inspect --shrink's copies of a bundle, if left behind
    return ours.count(name) || name.starts_with("inspect-trace-") || name.starts_with("inspect-compile-");
  };
  std::vector<stdfs::path> remove;
  for (const auto& e : stdfs::directory_iterator(root, ec)) {
    if (is_ours(e.path().filename().string())) remove.push_back(e.path());
    else stats.kept.push_back(e.path().filename().string());
  }
  std::sort(stats.kept.begin(), stats.kept.end());
  for (const auto& p : remove) {
    if (!stdfs::is_directory(p, ec) || stdfs::is_symlink(p, ec)) {
      ++stats.files;
      stats.bytes += stdfs::is_regular_file(p, ec) ? stdfs::file_size(p, ec) : 0;
    }
    for (auto it = stdfs::recursive_directory_iterator(p, ec); it != stdfs::recursive_directory_iterator();
         it.increment(ec)) {
      if (ec) break;
      if (it->is_regular_file(ec)) {
        ++stats.files;
        stats.bytes += it->file_size(ec);
      }
    }
    std::error_code rm;
    stdfs::remove_all(p, rm);
    if (rm) throw Error("cache: cannot remove " + p.string() + ": " + rm.message(), Exit::io);
  }
  return stats;
}

}  // namespace pb::fetch
