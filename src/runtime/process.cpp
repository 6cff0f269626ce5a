#include "runtime/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "util/error.hpp"
#include "util/interrupt.hpp"

extern char** environ;

namespace pb::runtime {

std::filesystem::path find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

namespace {

std::vector<std::string> environment(const Spawn& s) {
  std::map<std::string, std::string> env;
  if (!s.only_env) {
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
    }
  }
  for (const auto& [k, v] : s.env) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Kills the child once `seconds` pass unless stopped first: an import that never returns must not
// hold the build for ever.
class Watchdog {
 public:
  Watchdog(pid_t pid, double seconds) {
    if (seconds <= 0) return;
    thread_ = std::thread([this, pid, seconds] {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return done_; })) {
        fired_ = true;
        ::kill(pid, SIGKILL);
      }
    });
  }
  ~Watchdog() { stop(); }
  bool stop() {
    if (thread_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        done_ = true;
      }
      cv_.notify_all();
      thread_.join();
    }
    return fired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

}  // namespace

ProcessResult spawn(const Spawn& s) {
  auto exe = find_program(s.argv.at(0));
  if (exe.empty()) throw Error("cannot find '" + s.argv[0] + "' on PATH", Exit::io);
  std::vector<std::string> args = s.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  bool own_env = s.only_env || !s.env.empty();
  std::vector<std::string> env_strings = own_env ? environment(s) : std::vector<std::string>{};
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, exec_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {in_pipe, out_pipe, err_pipe, exec_pipe}) close_fd(p[0]), close_fd(p[1]);
  };
  if ((s.feed && ::pipe2(in_pipe, O_CLOEXEC) != 0) || (s.capture_stdout && ::pipe2(out_pipe, O_CLOEXEC) != 0) ||
      (s.capture_stderr && ::pipe2(err_pipe, O_CLOEXEC) != 0) || ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    close_all();
    throw Error(std::string("cannot start ") + exe.string() + ": pipe: " + std::strerror(errno), Exit::io);
  }
  if (s.feed) ::fcntl(in_pipe[1], F_SETPIPE_SZ, 1 << 20);  // fewer wake-ups while streaming a heap
  int devnull = s.feed ? -1 : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const char* cwd = s.cwd ? s.cwd->c_str() : nullptr;
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) {
    close_all();
    close_fd(devnull);
    throw Error(std::string("cannot start ") + exe.string() + ": fork: " + std::strerror(errno), Exit::io);
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    // SIGKILL: a host spinning in a handler never runs its SIGTERM handler.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(s.feed ? in_pipe[0] : devnull, 0);
    if (s.capture_stdout) ::dup2(out_pipe[1], 1);
    if (s.capture_stderr) ::dup2(err_pipe[1], 2);
    ::signal(SIGPIPE, SIG_DFL);
    int err = 0;
    if (cwd && ::chdir(cwd) != 0) err = errno;
    if (!err) ::execve(exe.c_str(), argv.data(), own_env ? envp.data() : environ);
    if (!err) err = errno;
    (void)!::write(exec_pipe[1], &err, sizeof err);
    ::_exit(127);
  }
  close_fd(devnull);
  close_fd(in_pipe[0]);
  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);
  close_fd(exec_pipe[1]);
  int exec_errno = 0;
  ssize_t got;
  while ((got = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {}
  close_fd(exec_pipe[0]);
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {  // exec (or chdir) failed: no child to talk to
    close_all();
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
    throw Error("cannot start " + exe.string() + ": " + std::strerror(exec_errno), Exit::io);
  }

  interrupt::add_child(pid, s.forward_signals);
  Watchdog watchdog(pid, s.timeout);
  std::exception_ptr feed_error;
  std::thread feeder;
  if (s.feed) {
    ::signal(SIGPIPE, SIG_IGN);  // a child that exits early must not kill us mid-write
    int fd = in_pipe[1];
    in_pipe[1] = -1;
    feeder = std::thread([&s, fd, &feed_error] {
      try {
        s.feed(fd);
      } catch (...) {
        feed_error = std::current_exception();
      }
      ::close(fd);
    });
  }

  ProcessResult result;
  // Both pipes drained together, so neither stream can fill up and block the child.
  struct Stream {
    int fd;
    bool out;
  };
  std::vector<Stream> streams;
  if (out_pipe[0] >= 0) streams.push_back({out_pipe[0], true});
  if (err_pipe[0] >= 0) streams.push_back({err_pipe[0], false});
  char buf[1 << 16];
  while (!streams.empty()) {
    std::vector<pollfd> fds;
    for (auto& st : streams) fds.push_back({st.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = fds.size(); i-- > 0;) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(streams[i].fd, buf, sizeof buf);
      if (n > 0) {
        std::string_view piece(buf, static_cast<size_t>(n));
        if (!streams[i].out) result.err.append(piece);
        else if (s.on_stdout) s.on_stdout(piece);
        else result.out.append(piece);
      } else if (n == 0 || errno != EINTR) {
        ::close(streams[i].fd);
        streams.erase(streams.begin() + static_cast<long>(i));
      }
    }
  }
  out_pipe[0] = err_pipe[0] = -1;  // closed above
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  interrupt::remove_child(pid);
  result.timed_out = watchdog.stop();
  result.timeout = s.timeout;
  if (feeder.joinable()) feeder.join();
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  if (feed_error) std::rethrow_exception(feed_error);
  return result;
}

}  // namespace pb::runtime
