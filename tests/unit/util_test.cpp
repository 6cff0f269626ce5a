#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/text.hpp"

TEST_CASE("counts in words") {
  CHECK(pb::plural(0, "file") == "0 files");
  CHECK(pb::plural(1, "lock wheel") == "1 lock wheel");
  CHECK(pb::plural(2, "Pyodide build") == "2 Pyodide builds");
}

TEST_CASE("sha256 of known inputs") {
  CHECK(pb::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(pb::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  pb::Hash h;
  h.update("abc");
  CHECK(h.base64url() == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
}

TEST_CASE("the hash wrapper serves RECORD's other algorithms and refuses weak ones") {
  pb::Hash sha512("sha512");
  sha512.update("abc");
  CHECK(sha512.hex().starts_with("ddaf35a193617abacc417349ae204131"));
  pb::Hash blake("blake2s");
  blake.update("abc");
  CHECK(blake.base64url() == "UIxejDJ8FOLhpyujTutFLzdFiyCe1jopTZmbTIZnWYI");
  CHECK(pb::Hash::supports("sha3_256"));
  CHECK_FALSE(pb::Hash::supports("md5"));
  CHECK_FALSE(pb::Hash::supports("sha1"));
  CHECK_THROWS_AS(pb::Hash("md5"), pb::Error);
}

TEST_CASE("read_file refuses a device or a directory instead of reading it for ever") {
  // A project may ship pyproject.toml as a symbolic link to /dev/zero.
  auto err = [](const std::filesystem::path& p) {
    try {
      pb::fs::read_file(p);
    } catch (const pb::Error& e) {
      return std::string(e.what());
    }
    return std::string("read");
  };
  CHECK(err("/dev/zero") == "cannot read /dev/zero: not a regular file");
  CHECK(err("/") == "cannot read /: a directory");
  CHECK(err("/nonexistent-pb") == "cannot read /nonexistent-pb: No such file or directory");
}

TEST_CASE("read_file reads a named pipe nobody writes to as empty, and a written pipe whole") {
  auto dir = pb::fs::make_temp_dir(std::filesystem::temp_directory_path() / "x", "pb-test-");
  auto fifo = dir / "pyproject.toml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(pb::fs::read_file(fifo).empty());  // opening it used to wait for a writer for ever
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], "version = 1\n", 12) == 12);
  ::close(fds[1]);
  CHECK(pb::fs::read_file("/dev/fd/" + std::to_string(fds[0])) == "version = 1\n");
  ::close(fds[0]);
  std::filesystem::remove_all(dir);
}

TEST_CASE("atomic write replaces the file and leaves no temporary behind") {
  auto dir = pb::fs::make_temp_dir(std::filesystem::temp_directory_path() / "x", "pb-test-");
  auto file = dir / "f.txt";
  pb::fs::write_file_atomic(file, "one");
  pb::fs::write_file_atomic(file, "two");
  CHECK(pb::fs::read_file(file) == "two");
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  CHECK(entries == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("replace_dir swaps a directory into place") {
  auto base = pb::fs::make_temp_dir(std::filesystem::temp_directory_path() / "x", "pb-test-");
  auto dest = base / "out";
  std::filesystem::create_directories(dest);
  pb::fs::write_file_atomic(dest / "old", "1");
  auto fresh = pb::fs::make_temp_dir(dest, ".out-");
  pb::fs::write_file_atomic(fresh / "new", "2");
  pb::fs::replace_dir(fresh, dest);
  CHECK(std::filesystem::exists(dest / "new"));
  CHECK(!std::filesystem::exists(dest / "old"));
  std::filesystem::remove_all(base);
}

TEST_CASE("replace_dir removes an earlier tree the user made read-only") {
  // Permissions bind only a user that is not root: as root, run the case as nobody in a child.
  auto base = pb::fs::make_temp_dir(std::filesystem::temp_directory_path() / "x", "pb-test-");
  const bool root = ::geteuid() == 0;
  if (root) ::chown(base.c_str(), 65534, 65534);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (root && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(2);
    auto dest = base / "out";
    std::filesystem::create_directories(dest / "app" / "pkg");
    pb::fs::write_file_atomic(dest / "app" / "pkg" / "m.py", "x");
    for (const char* d : {"app/pkg", "app", ""}) ::chmod((dest / d).c_str(), 0555);  // chmod -R a-w
    auto fresh = pb::fs::make_temp_dir(dest, ".out-");
    pb::fs::write_file_atomic(fresh / "new", "2");
    pb::fs::replace_dir(fresh, dest);
    int entries = 0;  // out, and no old tree left beside it
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(base)) ++entries;
    ::_exit(std::filesystem::exists(dest / "new") && entries == 1 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::filesystem::remove_all(base);
}
