// Decompressed snapshots kept in <cache>/heaps/<snapshot id>.raw, so that a restore reads the heap
// straight into wasm memory instead of decompressing it each time. Written atomically, pruned to
// the most recently used few.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "snapshot/snapshot.hpp"

namespace pb::snapshot {

// Where the decompressed payload of this snapshot lives; empty when the file has no id.
std::filesystem::path heap_cache_path(const std::filesystem::path& cache_dir, const SnapshotHeader& header);

// A usable cache file: present with the right size (its mtime is refreshed for pruning).
bool heap_cache_ready(const std::filesystem::path& path, const SnapshotHeader& header);

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
  void commit(uint64_t expected_size);  // rename into place when complete, then prune

 private:
  std::filesystem::path path_, tmp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  uint64_t heap_offset_ = 0;
  std::vector<bool> nonzero_;  // per 64 KiB heap page
};

// Keep the `keep` most recently used files.
void prune_heap_cache(const std::filesystem::path& dir, size_t keep = 6);

}  // namespace pb::snapshot
