#include "fetch/committer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <utility>

namespace pb::fetch::detail {

Committer::~Committer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void Committer::submit(Task task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
    if (workers_.size() < static_cast<size_t>(threads_) && workers_.size() < tasks_.size())
      workers_.emplace_back([this] { work(); });
  }
  cv_.notify_one();
}

std::vector<Committer::Result> Committer::take_results() {
  std::lock_guard lock(mu_);
  return std::exchange(results_, {});
}

void Committer::work() {
  for (;;) {
    std::vector<Task> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and nothing left to do
      // Group commit: everything that arrived while the last batch synced goes in one sync.
      batch.assign(std::make_move_iterator(tasks_.begin()), std::make_move_iterator(tasks_.end()));
      tasks_.clear();
    }
    // One syncfs makes every file of the batch durable (before any of them gets its final name);
    // when it fails, or for a single file, fsync each.
    bool synced = batch.size() > 1 && ::syncfs(batch.front().fd) == 0;
    std::vector<Result> done;
    for (auto& t : batch) {
      Result r{t.tag, {}};
      if (!synced && ::fsync(t.fd) != 0) r.error = "cannot write " + t.from.string() + ": " + std::strerror(errno);
      if (r.error.empty() && std::rename(t.from.c_str(), t.to.c_str()) != 0)
        r.error = "cannot rename into " + t.to.string() + ": " + std::strerror(errno);
      if (!r.error.empty()) ::unlink(t.from.c_str());
      ::close(t.fd);  // last: the file may carry a lock that must outlive the rename
      done.push_back(std::move(r));
    }
    {
      std::lock_guard lock(mu_);
      for (auto& r : done) results_.push_back(std::move(r));
    }
    if (wake_) wake_();
  }
}

}  // namespace pb::fetch::detail
