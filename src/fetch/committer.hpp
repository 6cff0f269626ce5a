// Moves verified downloads into the cache durably (sync, rename, close) on a worker thread.
// A sync can take milliseconds; done on the transfer loop it would stall every transfer, so the
// loop hands files over and picks up the results later. Files handed over while a sync runs are
// synced together by the next one (one syncfs per batch instead of one fsync per file).
#pragma once
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pb::fetch::detail {

class Committer {
 public:
  struct Task {
    int fd = -1;  // the written file; closed by the committer after the rename
    std::filesystem::path from, to;
    void* tag = nullptr;
  };
  struct Result {
    void* tag = nullptr;
    std::string error;  // empty on success; on failure `from` has been removed
  };

  // `wake` is called from a worker after each result (e.g. curl_multi_wakeup).
  explicit Committer(std::function<void()> wake, int threads = 1) : wake_(std::move(wake)), threads_(threads) {}
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  void submit(Task task);
  std::vector<Result> take_results();

 private:
  void work();

  std::function<void()> wake_;
  int threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  std::vector<Result> results_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
};

}  // namespace pb::fetch::detail
