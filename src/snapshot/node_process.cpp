#include "snapshot/node_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>

#include "util/embedded.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/sha256.hpp"

extern char** environ;

namespace pb::snapshot {

namespace stdfs = std::filesystem;

namespace {

// `dir` is a real directory of ours that no one else may write into.
bool private_dir(const stdfs::path& dir) {
  struct stat st;
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// Each host file is in `dir` with exactly the embedded content (written where it is not).
void write_host(const stdfs::path& dir) {
  for (const auto& f : embedded::host_files) {
    auto path = dir / f.name;
    std::string have;
    try {
      if (stdfs::is_regular_file(stdfs::symlink_status(path))) have = fs::read_file(path);
    } catch (const Error&) {}
    if (have != f.text) fs::write_file_atomic(path, f.text);
  }
}

}  // namespace

stdfs::path host_script(const stdfs::path& cache_dir) {
  Sha256 h;
  for (const auto& f : embedded::host_files) {
    h.update(f.name);
    h.update(std::string_view("\0", 1));
    h.update(f.text);
    h.update(std::string_view("\0", 1));
  }
  auto host_dir = cache_dir / "host" / ("host-" + h.hex().substr(0, 16));
  try {
    std::error_code ec;
    stdfs::create_directories(host_dir, ec);
    if (!ec && private_dir(host_dir)) {
      write_host(host_dir);
      return host_dir / "host.mjs";
    }
  } catch (const Error&) {
    // Not writable: a private directory instead.
  }
  // Never a shared, guessable temporary path: someone else could put a host there first.
  static const stdfs::path* private_host = [] {
    auto tmpl = (stdfs::temp_directory_path() / "pybundle-host-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return new stdfs::path();
    auto* dir = new stdfs::path(tmpl);  // never destroyed: the atexit hook still needs it
    interrupt::remove_on_signal(*dir);
    std::atexit([] {
      std::error_code ec;
      stdfs::remove_all(*private_host, ec);
    });
    return dir;
  }();
  if (private_host->empty())
    throw Error("cannot write the JavaScript host into " + (cache_dir / "host").string(), Exit::io);
  write_host(*private_host);
  return *private_host / "host.mjs";
}

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

namespace {
std::atomic<double> g_host_timeout{300};
std::atomic<bool> g_sandbox{false};

// Node 22.13+ spells the permission model --permission; 20 to 22.12 --experimental-permission.
std::string permission_flag(const std::string& node) {
  static const std::string flag = [&node] {
    NodeSpawn probe;
    probe.argv = {node, "--version"};
    auto version = spawn_node(probe).out;  // "v20.20.2"
    int major = 0, minor = 0;
    if (std::sscanf(version.c_str(), "v%d.%d", &major, &minor) != 2 || major < 20)
      throw Error("--sandbox: " + node + " is Node.js " + version.substr(0, version.find('\n')) +
                      ", which has no permission model (Node.js 20 or newer is needed)",
                  Exit::usage);
    return std::string(major > 22 || (major == 22 && minor >= 13) ? "--permission" : "--experimental-permission");
  }();
  return flag;
}

// The permission flags go before the script; the paths must exist for Node to allow them.
std::vector<std::string> sandboxed_argv(const NodeSpawn& spawn) {
  // --no-warnings: Node warns on every start that the model is experimental.
  std::vector<std::string> argv{spawn.argv.front(), permission_flag(spawn.argv.front()), "--allow-worker",
                                "--no-warnings"};
  auto allow = [&](const char* flag, const stdfs::path& p) {
    std::error_code ec;
    auto real = stdfs::weakly_canonical(stdfs::absolute(p), ec);
    argv.push_back(std::string(flag) + (ec ? p : real).string());
  };
  for (const auto& p : spawn.reads) allow("--allow-fs-read=", p);
  for (const auto& p : spawn.writes) allow("--allow-fs-read=", p), allow("--allow-fs-write=", p);
  argv.insert(argv.end(), spawn.argv.begin() + 1, spawn.argv.end());
  return argv;
}
}  // namespace

namespace {
// A sandboxed host sees none of the user's secrets (tokens in CI): only what Node and the host read.
std::vector<std::string> sandboxed_env() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    auto name = kv.substr(0, kv.find('='));
    if (name == "PATH" || name == "HOME" || name == "LANG" || name == "TZ" || name.starts_with("LC_") ||
        name == "PYBUNDLE_HOST_TRACE" || name == "PYBUNDLE_IMPORT_TRACE")
      env.emplace_back(kv);
  }
  return env;
}
}  // namespace

double host_timeout() {
  return g_host_timeout.load();
}
void set_host_timeout(double seconds) {
  g_host_timeout = seconds;
}
void set_sandbox(bool on) {
  g_sandbox = on;
}
bool sandboxed() {
  return g_sandbox.load();
}

NodeResult spawn_node(const NodeSpawn& spawn) {
  bool sandbox = sandboxed() && !spawn.reads.empty();
  std::vector<std::string> args = sandbox ? sandboxed_argv(spawn) : spawn.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = sandbox ? sandboxed_env() : std::vector<std::string>{};
  std::vector<char*> env;
  for (auto& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
  if (spawn.feed) {
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw Error("pipe failed", Exit::io);
    ::fcntl(in_pipe[1], F_SETPIPE_SZ, 1 << 20);  // fewer wake-ups while streaming the heap
  }
  if (spawn.capture_stdout && ::pipe2(out_pipe, O_CLOEXEC) != 0) throw Error("pipe failed", Exit::io);
  int devnull = spawn.feed ? -1 : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) throw Error(std::string("fork failed: ") + std::strerror(errno), Exit::io);
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    // SIGKILL: a host spinning in a handler never runs its SIGTERM handler.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(spawn.feed ? in_pipe[0] : devnull, 0);
    if (spawn.capture_stdout) ::dup2(out_pipe[1], 1);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(argv[0], argv.data(), sandbox ? env.data() : environ);
    const char msg[] = "pybundle: cannot execute node\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  if (devnull >= 0) ::close(devnull);
  if (in_pipe[0] >= 0) ::close(in_pipe[0]);
  if (out_pipe[1] >= 0) ::close(out_pipe[1]);

  interrupt::add_child(pid, spawn.forward_signals);
  // An app whose import never returns must not hold the build for ever.
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  std::atomic<bool> timed_out{false};
  std::thread watchdog;
  if (spawn.timeout > 0) {
    watchdog = std::thread([&] {
      std::unique_lock<std::mutex> lock(done_mu);
      if (!done_cv.wait_for(lock, std::chrono::duration<double>(spawn.timeout), [&] { return done; })) {
        timed_out = true;
        ::kill(pid, SIGKILL);
      }
    });
  }

  std::exception_ptr feed_error;
  std::thread feeder;
  if (spawn.feed) {
    ::signal(SIGPIPE, SIG_IGN);  // a child that exits early must not kill us mid-write
    int fd = in_pipe[1];
    feeder = std::thread([&spawn, fd, &feed_error] {
      try {
        spawn.feed(fd);
      } catch (...) {
        feed_error = std::current_exception();
      }
      ::close(fd);
    });
  }

  NodeResult result;
  if (spawn.capture_stdout) {
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
      if (n > 0) {
        if (spawn.on_stdout) spawn.on_stdout(std::string_view(buf, static_cast<size_t>(n)));
        else result.out.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
    ::close(out_pipe[0]);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  interrupt::remove_child(pid);
  if (watchdog.joinable()) {
    {
      std::lock_guard<std::mutex> lock(done_mu);
      done = true;
    }
    done_cv.notify_all();
    watchdog.join();
  }
  result.timed_out = timed_out;
  result.timeout = spawn.timeout;
  if (feeder.joinable()) feeder.join();
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  if (feed_error) std::rethrow_exception(feed_error);
  return result;
}

}  // namespace pb::snapshot
