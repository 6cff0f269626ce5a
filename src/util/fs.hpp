#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace pb::fs {

namespace stdfs = std::filesystem;

// Whole file as bytes; throws pb::Error (Exit::io) naming the path, also for a device, a
// directory or a file larger than kMaxReadFile (a pipe is read).
inline constexpr size_t kMaxReadFile = size_t(256) << 20;
std::string read_file(const stdfs::path& path);

// Write all of `size` bytes to fd (retrying short writes and EINTR); false when that failed
// (errno says why; EPIPE: the reader went away).
bool write_all(int fd, const char* data, size_t size);

// Write via a temporary file in the same directory, fsync, then rename over `path`.
void write_file_atomic(const stdfs::path& path, std::string_view data);

// A fresh directory next to `near` (same filesystem, so a later rename is atomic).
stdfs::path make_temp_dir(const stdfs::path& near, std::string_view prefix);

// remove_all, and when that fails on a tree made read-only, again after giving the directories the
// user owns their write bit back (never through a symbolic link). Errors are ignored.
void remove_tree(const stdfs::path& path);

// Replace directory `dest` by `src` as atomically as the filesystem allows:
// rename dest aside, rename src into place, remove the old one.
void replace_dir(const stdfs::path& src, const stdfs::path& dest);

// $XDG_CACHE_HOME/pybundle when it is an absolute path, else ~/.cache/pybundle.
stdfs::path default_cache_dir();

// `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace pb::fs
