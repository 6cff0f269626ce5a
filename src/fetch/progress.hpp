// Progress display for downloads: a bar on a TTY, plain lines in logs, JSON events for tools.
#pragma once
#include <chrono>
#include <cstdio>

#include "fetch/fetch.hpp"

namespace pb::fetch {

enum class ProgressStyle { quiet, bar, plain, json };

// quiet wins; then JSON; then a bar when the stream is a terminal, plain lines otherwise.
ProgressStyle choose_progress_style(bool quiet, bool json, bool is_tty);

// A reporter writing to `out` (usually stderr). Failures are shown in every style but quiet
// (the caller reports the final error anyway).
Reporter make_reporter(ProgressStyle style, std::FILE* out);

// Counts and throttles events for fetch_all; calls the user's reporter, if any.
class Progress {
 public:
  explicit Progress(const Reporter& reporter) : reporter_(reporter) {}
  void start(size_t files_total, uint64_t bytes_total);
  void emit(Event e);  // fills in the aggregate counters
  void add_bytes(int64_t delta) { bytes_done_ = static_cast<uint64_t>(static_cast<int64_t>(bytes_done_) + delta); }
  void file_done(bool cached, bool failed = false);
  void tick();  // a progress event, at most ten per second
  void finish();

 private:
  const Reporter& reporter_;
  size_t files_total_ = 0, files_done_ = 0, files_cached_ = 0, files_failed_ = 0;
  uint64_t bytes_total_ = 0, bytes_done_ = 0;
  std::chrono::steady_clock::time_point last_tick_{};
};

// "1.5 MiB"
std::string human_bytes(double bytes);

}  // namespace pb::fetch
