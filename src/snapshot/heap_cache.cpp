#include "snapshot/heap_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <vector>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/json.hpp"

namespace pb::snapshot {

namespace stdfs = std::filesystem;

stdfs::path heap_cache_path(const stdfs::path& cache_dir, const std::string& file_sha256) {
  if (file_sha256.size() != 64 || file_sha256.find_first_not_of("0123456789abcdef") != std::string::npos) return {};
  return cache_dir / "heaps" / (file_sha256 + ".raw");
}

bool heap_cache_file_ours(const stdfs::path& path, struct stat* out) {
  struct stat st;
  if (path.empty() || ::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return false;
  if (out) *out = st;
  return true;
}

bool heap_cache_ready(const stdfs::path& path, const SnapshotHeader& header) {
  struct stat st;
  if (!heap_cache_file_ours(path, &st)) return false;
  const auto& raw_size = json_at(header.meta, "raw_size");
  if (!raw_size.is_number_unsigned() || static_cast<uint64_t>(st.st_size) != raw_size.get<uint64_t>()) return false;
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // most recently used
  return true;
}

namespace {
constexpr uint64_t kPage = 64 * 1024;

bool all_zero(const char* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    if (v) return false;
  }
  for (; i < n; ++i)
    if (p[i]) return false;
  return true;
}
}  // namespace

stdfs::path zero_map_path(const stdfs::path& raw) {
  auto p = raw;
  p.replace_extension(".zmap");
  return p;
}

HeapCacheWriter::HeapCacheWriter(stdfs::path path, uint64_t heap_offset)
    : path_(std::move(path)), heap_offset_(heap_offset) {
  if (path_.empty()) return;
  std::error_code ec;
  stdfs::create_directories(path_.parent_path(), ec);
  tmp_ = path_;
  tmp_ += ".tmp-" + std::to_string(::getpid());
  // Ctrl-C or SIGTERM mid-write must not leave a heap-sized temporary behind (pruned only after a day).
  interrupt::remove_on_signal(tmp_);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot create", tmp_);
}

void HeapCacheWriter::fail(const std::string& what, const stdfs::path& file) {
  if (error_.empty()) error_ = what + " " + file.string() + ": " + std::strerror(errno);
}

HeapCacheWriter::~HeapCacheWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
  if (!tmp_.empty()) interrupt::forget(tmp_);
}

void HeapCacheWriter::write(std::string_view data) {
  if (fd_ < 0) return;
  // Which heap pages hold anything but zeros.
  uint64_t start = written_, end = written_ + data.size();
  for (uint64_t pos = std::max(start, heap_offset_); pos < end;) {
    uint64_t page = (pos - heap_offset_) / kPage;
    uint64_t page_end = std::min(end, heap_offset_ + (page + 1) * kPage);
    if (nonzero_.size() <= page) nonzero_.resize(page + 1, false);
    if (!nonzero_[page] && !all_zero(data.data() + (pos - start), page_end - pos)) nonzero_[page] = true;
    pos = page_end;
  }
  if (!fs::write_all(fd_, data.data(), data.size())) {
    fail("cannot write", tmp_);
    ::close(fd_);
    ::unlink(tmp_.c_str());
    fd_ = -1;
    return;
  }
  written_ += data.size();
}

void HeapCacheWriter::commit(uint64_t expected_size, const stdfs::path& as) {
  if (fd_ < 0) return;
  if (!as.empty()) path_ = as;
  bool ok = written_ == expected_size;
  if (::close(fd_) != 0 && ok) {
    fail("cannot write", tmp_);
    ok = false;
  }
  fd_ = -1;
  std::string map;
  auto put = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) map.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  for (size_t i = 0; i < nonzero_.size();) {
    if (nonzero_[i]) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < nonzero_.size() && !nonzero_[j]) ++j;
    put(static_cast<uint32_t>(i));
    put(static_cast<uint32_t>(j - i));
    i = j;
  }
  try {
    if (ok) fs::write_file_atomic(zero_map_path(path_), map);  // before the raw file: never a raw without its map
  } catch (const Error& e) {
    if (error_.empty()) error_ = e.what();
    ok = false;
  }
  if (ok && ::rename(tmp_.c_str(), path_.c_str()) != 0) {
    fail("cannot rename into", path_);
    ok = false;
  }
  if (!ok) {
    ::unlink(tmp_.c_str());
    return;
  }
  prune_heap_cache(path_.parent_path());
}

void prune_heap_cache(const stdfs::path& dir, size_t keep) {
  std::error_code ec;
  // Base snapshots (a boot each) and restored heaps (a decompression each) are kept apart.
  std::vector<std::pair<stdfs::file_time_type, stdfs::path>> files, bases;
  for (const auto& e : stdfs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".raw")
      (e.path().filename().string().starts_with("base-") ? bases : files).emplace_back(e.last_write_time(ec), e.path());
    // Temporaries of writers that died (a day old).
    if (e.path().filename().string().find(".tmp-") != std::string::npos &&
        e.last_write_time(ec) < stdfs::file_time_type::clock::now() - std::chrono::hours(24))
      stdfs::remove(e.path(), ec);
  }
  for (auto* list : {&files, &bases}) {
    if (list->size() <= keep) continue;
    std::sort(list->begin(), list->end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = keep; i < list->size(); ++i) {
      stdfs::remove((*list)[i].second, ec);
      stdfs::remove(zero_map_path((*list)[i].second), ec);
    }
  }
}

}  // namespace pb::snapshot
