#include "snapshot/node_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include "util/embedded.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

extern char** environ;

namespace pb::snapshot {

namespace stdfs = std::filesystem;

stdfs::path host_script(const stdfs::path& cache_dir) {
  Sha256 h;
  for (const auto& f : embedded::host_files) {
    h.update(f.name);
    h.update(std::string_view("\0", 1));
    h.update(f.text);
    h.update(std::string_view("\0", 1));
  }
  auto name = "host-" + h.hex().substr(0, 16);
  for (auto dir : {cache_dir / "host", stdfs::temp_directory_path() / "pybundle-host"}) {
    auto host_dir = dir / name;
    try {
      for (const auto& f : embedded::host_files) {
        std::error_code ec;
        if (stdfs::file_size(host_dir / f.name, ec) != f.text.size() || ec) {
          stdfs::create_directories(host_dir, ec);
          fs::write_file_atomic(host_dir / f.name, f.text);
        }
      }
      return host_dir / "host.mjs";
    } catch (const Error&) {
      // Not writable: try the next place.
    }
  }
  throw Error("cannot write the JavaScript host into " + (cache_dir / "host").string(), Exit::io);
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

std::atomic<pid_t> g_child{0};

void forward(int sig) {
  pid_t pid = g_child.load();
  if (pid > 0) ::kill(pid, sig);
}

}  // namespace

NodeResult spawn_node(const NodeSpawn& spawn) {
  std::vector<std::string> args = spawn.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

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
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(spawn.feed ? in_pipe[0] : devnull, 0);
    if (spawn.capture_stdout) ::dup2(out_pipe[1], 1);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(argv[0], argv.data(), environ);
    const char msg[] = "pybundle: cannot execute node\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  if (devnull >= 0) ::close(devnull);
  if (in_pipe[0] >= 0) ::close(in_pipe[0]);
  if (out_pipe[1] >= 0) ::close(out_pipe[1]);

  struct sigaction old_int {}, old_term{}, old_hup{};
  if (spawn.forward_signals) {
    g_child = pid;
    struct sigaction sa {};
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int);
    ::sigaction(SIGTERM, &sa, &old_term);
    ::sigaction(SIGHUP, &sa, &old_hup);
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
        result.out.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
    ::close(out_pipe[0]);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (feeder.joinable()) feeder.join();
  if (spawn.forward_signals) {
    g_child = 0;
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    ::sigaction(SIGHUP, &old_hup, nullptr);
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  if (feed_error) std::rethrow_exception(feed_error);
  return result;
}

}  // namespace pb::snapshot
