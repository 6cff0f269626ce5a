// Decompressed snapshots kept in <cache>/heaps/<sha256 of the snapshot file>.raw, so that a restore reads the heap
// straight into wasm memory instead of decompressing it each time, and the base snapshots (the booted
// bare runtime) that make-snapshot restores, <cache>/heaps/base-<key>.raw. Written atomically,
// pruned to the most recently used few of each kind.
#pragma once
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "snapshot/snapshot.hpp"

namespace pb::snapshot {

// Where the decompressed payload of the snapshot file whose sha256 is `file_sha256` lives. Keyed
// by the file's content, never by its (unauthenticated) metadata: a bundle cannot name a heap for
// another bundle's snapshot to restore.
std::filesystem::path heap_cache_path(const std::filesystem::path& cache_dir, const std::string& file_sha256);

// A usable cache file: a regular file (not a link) of ours that only we can write, with the
// right size; its mtime is refreshed for pruning.
bool heap_cache_ready(const std::filesystem::path& path, const SnapshotHeader& header);
// A regular file (not a link) owned by us that no one else may write; fills `st` when given.
bool heap_cache_file_ours(const std::filesystem::path& path, struct stat* st = nullptr);

// Writes a cache file through a temporary name; failures only cost the cache.
// Next to each <id>.raw, <id>.zmap lists the heap's all-zero 64 KiB pages as little-endian u32
// pairs (first page, count): a restore need not copy zeros into memory that is still untouched.
std::filesystem::path zero_map_path(const std::filesystem::path& raw);

class HeapCacheWriter {
 public:
  // `heap_offset`: where the heap starts in the stream (after Pyodide's header).
  HeapCacheWriter(std::filesystem::path path, uint64_t heap_offset);
  ~HeapCacheWriter();
  HeapCacheWriter(const HeapCacheWriter&) = delete;
  HeapCacheWriter& operator=(const HeapCacheWriter&) = delete;
  void write(std::string_view data);
  // Rename into place (at `as` when given, else the constructor's path) when complete, then prune.
  void commit(uint64_t expected_size, const std::filesystem::path& as = {});
  // Why the file could not be kept ("cannot write FILE: No space left on device"); "" if it was.
  const std::string& error() const { return error_; }

 private:
  void fail(const std::string& what, const std::filesystem::path& file);
  std::filesystem::path path_, tmp_;
  std::string error_;
  int fd_ = -1;
  uint64_t written_ = 0;
  uint64_t heap_offset_ = 0;
  std::vector<bool> nonzero_;  // per 64 KiB heap page
};

// Keep the `keep` most recently used heaps and as many base snapshots.
void prune_heap_cache(const std::filesystem::path& dir, size_t keep = 6);

}  // namespace pb::snapshot
