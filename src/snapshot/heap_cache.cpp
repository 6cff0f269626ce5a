#include "snapshot/heap_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "snapshot/node_process.hpp"

namespace pb::snapshot {

namespace stdfs = std::filesystem;

stdfs::path heap_cache_path(const stdfs::path& cache_dir, const SnapshotHeader& header) {
  std::string id = header.meta.value("id", "");
  if (id.size() < 16 || id.find_first_not_of("0123456789abcdef") != std::string::npos) return {};
  return cache_dir / "heaps" / (id + ".raw");
}

bool heap_cache_ready(const stdfs::path& path, const SnapshotHeader& header) {
  if (path.empty()) return false;
  std::error_code ec;
  auto size = stdfs::file_size(path, ec);
  if (ec || size != header.meta.value("raw_size", uint64_t{0})) return false;
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // most recently used
  return true;
}

HeapCacheWriter::HeapCacheWriter(stdfs::path path) : path_(std::move(path)) {
  if (path_.empty()) return;
  std::error_code ec;
  stdfs::create_directories(path_.parent_path(), ec);
  tmp_ = path_;
  tmp_ += ".tmp-" + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

HeapCacheWriter::~HeapCacheWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void HeapCacheWriter::write(std::string_view data) {
  if (fd_ < 0) return;
  if (!write_all(fd_, data.data(), data.size())) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
    fd_ = -1;
    return;
  }
  written_ += data.size();
}

void HeapCacheWriter::commit(uint64_t expected_size) {
  if (fd_ < 0) return;
  bool ok = written_ == expected_size && ::close(fd_) == 0;
  fd_ = -1;
  if (!ok || ::rename(tmp_.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp_.c_str());
    return;
  }
  prune_heap_cache(path_.parent_path());
}

void prune_heap_cache(const stdfs::path& dir, size_t keep) {
  std::error_code ec;
  std::vector<std::pair<stdfs::file_time_type, stdfs::path>> files;
  for (const auto& e : stdfs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".raw") files.emplace_back(e.last_write_time(ec), e.path());
  }
  if (files.size() <= keep) return;
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = keep; i < files.size(); ++i) stdfs::remove(files[i].second, ec);
}

}  // namespace pb::snapshot
