#include "util/interrupt.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/error.hpp"

namespace pb::interrupt {

namespace {

struct Child {
  pid_t pid;
  bool forward;
};

std::mutex mu;
std::condition_variable children_changed;
std::vector<std::string> paths;
std::vector<Child> children;
int wake_fd = -1;
std::atomic<bool> dying{false};
std::atomic<bool> stopping{false};
bool held = false;  // under mu: the main thread waits in hold_if_interrupted()

void on_signal(int sig) {
  unsigned char b = static_cast<unsigned char>(sig);
  (void)!::write(wake_fd, &b, 1);
}

void die_of(int sig) {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  ::kill(::getpid(), sig);
  ::_exit(128 + sig);
}

void handle(int sig, int& forwarded) {
  std::unique_lock<std::mutex> lock(mu);
  bool forwarding = std::any_of(children.begin(), children.end(), [](const Child& c) { return c.forward; });
  if (forwarding) {
    // One stop request can arrive twice (timeout(1) signals us and then our process group): only
    // a signal a second or more after the last is the user insisting.
    static std::chrono::steady_clock::time_point last;
    auto now = std::chrono::steady_clock::now();
    bool echo = forwarded > 0 && now - last < std::chrono::seconds(1);
    last = now;
    if (echo) return;
    // The child shuts down on its own; the command ends when it has. A second signal, or the
    // grace period, ends it.
    stopping = true;
    for (const auto& c : children) ::kill(c.pid, ++forwarded > 1 ? SIGKILL : sig);
    if (forwarded > 1) return;
    std::thread([] {
      std::unique_lock<std::mutex> l(mu);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kGraceSeconds);
      children_changed.wait_until(l, deadline, [] { return children.empty(); });
      for (const auto& c : children) ::kill(c.pid, SIGKILL);
    }).detach();
    return;
  }
  dying = true;
  for (const auto& c : children) ::kill(c.pid, SIGKILL);
  // With paths to remove, give the main thread a moment to stop writing (its worker loops check interrupted(), a killed
  // child's read ends) and wait in hold_if_interrupted(). A worker thread may still be writing into a
  // path; a few passes catch what it added, and what is left after we die is a staging directory
  // of a dead PID, which the next build removes.
  if (!paths.empty()) children_changed.wait_for(lock, std::chrono::seconds(2), [] { return held; });
  for (int pass = 0; pass < 3; ++pass) {
    for (const auto& p : paths) {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  }
  die_of(sig);
}

}  // namespace

void install() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  wake_fd = fds[1];
  int read_fd = fds[0];
  std::thread([read_fd] {
    int forwarded = 0;
    for (;;) {
      unsigned char sig;
      ssize_t n = ::read(read_fd, &sig, 1);
      if (n == 1) handle(sig, forwarded);
    }
  }).detach();
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

bool interrupted() {
  return dying;
}

bool stop_requested() {
  return stopping;
}

void throw_if_interrupted() {
  if (dying) throw Error("interrupted", Exit::io);
}

void hold_if_interrupted() {
  if (!dying) return;
  {
    std::lock_guard<std::mutex> lock(mu);
    held = true;
  }
  children_changed.notify_all();
  for (;;) ::pause();  // the watcher thread ends the process
}

void remove_on_signal(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mu);
  paths.push_back(path.string());
}

void forget(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mu);
  paths.erase(std::remove(paths.begin(), paths.end(), path.string()), paths.end());
}

void add_child(pid_t pid, bool forward) {
  std::lock_guard<std::mutex> lock(mu);
  children.push_back({pid, forward});
}

void remove_child(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu);
  children.erase(std::remove_if(children.begin(), children.end(), [pid](const Child& c) { return c.pid == pid; }),
                 children.end());
  children_changed.notify_all();
}

}  // namespace pb::interrupt
