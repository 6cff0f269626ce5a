#include "fetch/committer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
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
    Task t;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and nothing left to do
      t = std::move(tasks_.front());
      tasks_.pop_front();
    }
    Result r{t.tag, {}};
    if (::fsync(t.fd) != 0) r.error = "cannot write " + t.from.string() + ": " + std::strerror(errno);
    if (r.error.empty() && std::rename(t.from.c_str(), t.to.c_str()) != 0)
      r.error = "cannot rename into " + t.to.string() + ": " + std::strerror(errno);
    if (!r.error.empty()) ::unlink(t.from.c_str());
    ::close(t.fd);  // last: the file may carry a lock that must outlive the rename
    {
      std::lock_guard lock(mu_);
      results_.push_back(std::move(r));
    }
    if (wake_) wake_();
  }
}

}  // namespace pb::fetch::detail
