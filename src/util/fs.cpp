#include "util/fs.hpp"

#include <array>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "util/error.hpp"

namespace pb::fs {

namespace {

Error io_error(const std::string& what, const stdfs::path& path) {
  return Error(what + " " + path.string() + ": " + std::strerror(errno), Exit::io);
}

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s(12, '0');
  for (auto& c : s) c = hex[rng() % 16];
  return s;
}

}  // namespace

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string read_file(const stdfs::path& path) {
  // O_NONBLOCK: opening a named pipe nobody writes to would wait forever; once open it reads as
  // empty. Blocking again for the read itself (a pipe from --lock <(...) may not be written yet).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw io_error("cannot read", path);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto err = io_error("cannot read", path);
    ::close(fd);
    throw err;
  }
  // A project can ship a symbolic link as its pyproject.toml or lock: /dev/zero would be read
  // until memory runs out. A pipe stays readable (--lock <(...)), within the cap.
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
    ::close(fd);
    throw Error("cannot read " + path.string() + ": " + (S_ISDIR(st.st_mode) ? "a directory" : "not a regular file"),
                Exit::io);
  }
  std::string data;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto err = io_error("cannot read", path);
      ::close(fd);
      throw err;
    }
    if (n == 0) break;
    if (data.size() + static_cast<size_t>(n) > kMaxReadFile) {
      ::close(fd);
      throw Error("cannot read " + path.string() + ": larger than " + std::to_string(kMaxReadFile >> 20) + " MiB",
                  Exit::io);
    }
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

void write_file_atomic(const stdfs::path& path, std::string_view data) {
  auto tmp = path;
  tmp += ".tmp-" + random_suffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error("cannot create", tmp);
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto err = io_error("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw err;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    auto err = io_error("cannot write", tmp);
    ::unlink(tmp.c_str());
    throw err;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = io_error("cannot rename into", path);
    ::unlink(tmp.c_str());
    throw err;
  }
}

stdfs::path make_temp_dir(const stdfs::path& near, std::string_view prefix) {
  auto parent = near.has_parent_path() ? near.parent_path() : stdfs::path(".");
  std::error_code ec;
  stdfs::create_directories(parent, ec);
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto dir = parent / (std::string(prefix) + random_suffix());
    if (::mkdir(dir.c_str(), 0755) == 0) return dir;
    if (errno != EEXIST) throw io_error("cannot create directory", dir);
  }
  throw Error("cannot create a temporary directory in " + parent.string(), Exit::io);
}

void remove_tree(const stdfs::path& path) {
  std::error_code ec;
  if (stdfs::remove_all(path, ec) != static_cast<std::uintmax_t>(-1) && !ec) return;
  // A tree made read-only (chmod -R a-w on a bundle) keeps its entries: give our own directories
  // back their write bit, never following a symbolic link, and try again.
  const auto uid = ::geteuid();
  for (stdfs::recursive_directory_iterator it(path, stdfs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid)
      ::chmod(it->path().c_str(), (st.st_mode & 07777) | S_IRWXU);
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid)
    ::chmod(path.c_str(), (st.st_mode & 07777) | S_IRWXU);
  ec.clear();
  stdfs::remove_all(path, ec);
}

void replace_dir(const stdfs::path& src, const stdfs::path& dest) {
  std::error_code ec;
  stdfs::path old;
#ifdef RENAME_EXCHANGE
  // Swap in one step where the filesystem can, so `dest` never disappears, even for a moment;
  // the old tree is then at `src` (a staging name a later build cleans up if we die here).
  if (::renameat2(AT_FDCWD, src.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) == 0) {
    remove_tree(src);
    return;
  }
#endif
  if (stdfs::exists(dest, ec)) {
    old = dest;
    old += ".old-" + random_suffix();
    if (::rename(dest.c_str(), old.c_str()) != 0) throw io_error("cannot move aside", dest);
  }
  if (::rename(src.c_str(), dest.c_str()) != 0) {
    auto err = io_error("cannot rename into", dest);
    if (!old.empty()) ::rename(old.c_str(), dest.c_str());
    throw err;
  }
  if (!old.empty()) remove_tree(old);
}

stdfs::path default_cache_dir() {
  // A relative XDG_CACHE_HOME is invalid (XDG Base Directory spec): it would put a cache in every
  // working directory, a project's included.
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/') return stdfs::path(xdg) / "pybundle";
  if (const char* home = std::getenv("HOME"); home && *home) return stdfs::path(home) / ".cache" / "pybundle";
  return stdfs::temp_directory_path() / "pybundle-cache";
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3F);
    }
    static constexpr std::array<uint32_t, 5> min_for_len{0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace pb::fs
