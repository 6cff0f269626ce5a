// uv.lock and pylock.toml read into one model.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

#include "lock/lock.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pb::lock;

namespace {

const char* kUvLock = R"(version = 1
revision = 3
requires-python = ">=3.12"
resolution-markers = [
    "python_full_version >= '3.13'",
    "python_full_version < '3.13'",
]
supported-markers = ["sys_platform == 'emscripten'"]
required-markers = ["sys_platform == 'emscripten'"]
conflicts = [[
    { package = "app", extra = "cpu" },
    { package = "app", group = "gpu" },
]]

[options]
exclude-newer = "2025-01-01T00:00:00Z"

[manifest]
members = ["app", "Lib_One"]
constraints = [{ name = "idna", specifier = ">=3" }]
overrides = [{ name = "six", specifier = "==1.16" }]

[manifest.dependency-groups]
lint = [{ name = "ruff" }]

[[package]]
name = "App"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "numpy", version = "2.1.0", source = { registry = "https://index.invalid/simple" }, marker = "python_full_version >= '3.13'" },
    { name = "numpy", version = "1.26.4", source = { registry = "https://index.invalid/simple" }, marker = "python_full_version < '3.13'" },
    { name = "lib-one", extra = ["Fast"] },
]

[package.optional-dependencies]
cpu = [{ name = "torch", marker = "extra == 'extra-3-app-cpu'" }]

[package.dev-dependencies]
dev = [{ name = "pytest" }]

[package.metadata]
requires-dist = [
    { name = "lib-one", extras = ["fast"], editable = "lib" },
    { name = "numpy", specifier = ">=1.26" },
    { name = "torch", marker = "extra == 'cpu'" },
    { name = "tool", git = "https://git.invalid/tool?rev=abc" },
]
provides-extras = ["cpu"]

[package.metadata.requires-dev]
dev = [{ name = "pytest", specifier = ">=8" }]

[[package]]
name = "numpy"
version = "2.1.0"
source = { registry = "https://index.invalid/simple" }
resolution-markers = ["python_full_version >= '3.13'"]
sdist = { url = "https://files.invalid/numpy-2.1.0.tar.gz", hash = "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", size = 100, upload-time = "2024-01-01T00:00:00Z" }
wheels = [
    { url = "https://files.invalid/numpy-2.1.0-cp313-cp313-manylinux_2_17_x86_64.whl", hash = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", size = 10, upload-time = "2024-01-01T00:00:00Z", zstd = { hash = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", size = 5 } },
]

[[package]]
name = "numpy"
version = "1.26.4"
source = { registry = "https://index.invalid/simple" }
resolution-markers = ["python_full_version < '3.13'"]
sdist = { url = "https://files.invalid/numpy-1.26.4.tar.gz", hash = "sha512:abc" }

[[package]]
name = "lib-one"
version = "0.2.0"
source = { editable = "lib" }

[package.optional-dependencies]
fast = [{ name = "local-wheel" }]

[[package]]
name = "local-wheel"
version = "1.0"
source = { registry = "wheels" }
wheels = [{ path = "local_wheel-1.0-py3-none-any.whl", hash = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd" }]

[[package]]
name = "vendored"
version = "2.0"
source = { path = "dist/vendored-2.0-py3-none-any.whl" }
wheels = [{ filename = "vendored-2.0-py3-none-any.whl", hash = "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee" }]

[[package]]
name = "tool"
version = "0.1"
source = { git = "https://git.invalid/tool?rev=abc#0123456789abcdef0123456789abcdef01234567" }
)";

std::string error_of(std::string_view text, bool pylock = false) {
  try {
    if (pylock) parse_pylock(text, "pylock.toml");
    else parse_uv(text, "uv.lock");
  } catch (const pb::Error& e) {
    CHECK(e.code() == pb::Exit::usage);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("uv.lock: top-level fields") {
  auto lock = parse_uv(kUvLock, "proj/uv.lock");
  CHECK(lock.format == Format::uv);
  CHECK(lock.version == 1);
  CHECK(lock.revision == 3);
  CHECK(lock.requires_python == ">=3.12");
  CHECK(lock.resolution_markers.size() == 2);
  CHECK(lock.supported_markers == std::vector<std::string>{"sys_platform == 'emscripten'"});
  CHECK(lock.required_markers.size() == 1);
  REQUIRE(lock.conflicts.size() == 1);
  REQUIRE(lock.conflicts[0].size() == 2);
  CHECK(lock.conflicts[0][0].package == "app");
  CHECK(lock.conflicts[0][0].extra == "cpu");
  CHECK_FALSE(lock.conflicts[0][0].group);
  CHECK(lock.conflicts[0][1].group == "gpu");
  CHECK(lock.members == std::vector<std::string>{"app", "lib-one"});
  CHECK(lock.constraints == std::vector<std::string>{"idna>=3"});
  CHECK(lock.overrides == std::vector<std::string>{"six==1.16"});
  CHECK(lock.dependency_groups.at("lint") == std::vector<std::string>{"ruff"});
  CHECK(lock.packages.size() == 7);
  CHECK(lock.warnings.empty());
}

TEST_CASE("uv.lock: a package with dependencies, extras, groups and metadata") {
  auto lock = parse_uv(kUvLock, "proj/uv.lock");
  auto apps = lock.find("app");
  REQUIRE(apps.size() == 1);
  const Package& app = *apps[0];
  CHECK(app.name == "app");  // normalized
  CHECK(app.source.kind == SourceKind::editable);
  CHECK(app.source.value == ".");
  CHECK(app.source.is_local());
  REQUIRE(app.dependencies.size() == 3);
  CHECK(app.dependencies[0].version == "2.1.0");
  REQUIRE(app.dependencies[0].source);
  CHECK(app.dependencies[0].source->kind == SourceKind::registry);
  CHECK(app.dependencies[0].marker == "python_full_version >= '3.13'");
  CHECK(app.dependencies[2].extras == std::vector<std::string>{"fast"});
  CHECK(app.optional_dependencies.at("cpu")[0].marker == "extra == 'extra-3-app-cpu'");
  CHECK(app.dev_dependencies.at("dev")[0].name == "pytest");
  REQUIRE(app.requires_dist);
  CHECK(*app.requires_dist == std::vector<std::string>{"lib-one[fast]", "numpy>=1.26", "torch ; extra == 'cpu'",
                                                       "tool @ git+https://git.invalid/tool?rev=abc"});
  CHECK(app.requires_dev.at("dev") == std::vector<std::string>{"pytest>=8"});
  CHECK(app.provides_extras == std::vector<std::string>{"cpu"});
  CHECK(lock.where(app) == "proj/uv.lock:26");
}

TEST_CASE("uv.lock: a name locked twice, for two forks") {
  auto lock = parse_uv(kUvLock, "uv.lock");
  auto numpys = lock.find("numpy");
  REQUIRE(numpys.size() == 2);
  CHECK(numpys[0]->version == "2.1.0");
  CHECK(numpys[0]->resolution_markers == std::vector<std::string>{"python_full_version >= '3.13'"});
  CHECK(numpys[1]->version == "1.26.4");
}

TEST_CASE("uv.lock: artifacts, hashes, sizes") {
  auto lock = parse_uv(kUvLock, "uv.lock");
  const Package& np = *lock.find("numpy")[0];
  REQUIRE(np.sdist);
  CHECK(np.sdist->filename == "numpy-2.1.0.tar.gz");
  CHECK(np.sdist->sha256() == std::string(64, 'a'));  // lowercased
  CHECK(np.sdist->size == 100u);
  REQUIRE(np.wheels.size() == 1);
  CHECK(np.wheels[0].filename == "numpy-2.1.0-cp313-cp313-manylinux_2_17_x86_64.whl");
  CHECK(np.wheels[0].sha256() == std::string(64, 'b'));
  const Package& old = *lock.find("numpy")[1];
  CHECK(old.wheels.empty());
  CHECK(old.sdist->sha256().empty());  // sha512 is not sha256
}

TEST_CASE("uv.lock: a local registry's wheel paths are relative to the index; a path source is the file") {
  auto lock = parse_uv(kUvLock, "uv.lock");
  const Package& lw = *lock.find("local-wheel")[0];
  CHECK(lw.source.kind == SourceKind::registry);
  CHECK(lw.wheels[0].path == "wheels/local_wheel-1.0-py3-none-any.whl");
  CHECK(lw.wheels[0].filename == "local_wheel-1.0-py3-none-any.whl");
  const Package& v = *lock.find("vendored")[0];
  CHECK(v.source.kind == SourceKind::path);
  CHECK(v.wheels[0].path == "dist/vendored-2.0-py3-none-any.whl");
  CHECK(v.wheels[0].filename == "vendored-2.0-py3-none-any.whl");
  const Package& tool = *lock.find("tool")[0];
  CHECK(tool.source.kind == SourceKind::git);
  CHECK(to_string(tool.source.kind) == "git");
}

TEST_CASE("uv.lock revision 0 with [[distribution]] (early uv) reads the same") {
  auto lock = parse_uv(R"(version = 1
requires-python = ">=3.8"

[[distribution]]
name = "six"
version = "1.16.0"
source = { registry = "https://index.invalid/simple" }
wheels = [{ url = "https://files.invalid/six-1.16.0-py2.py3-none-any.whl", hash = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", size = 3 }]

[distribution.dependency-groups]
dev = [{ name = "pytest" }]
)",
                       "uv.lock");
  CHECK(lock.revision == 0);
  REQUIRE(lock.packages.size() == 1);
  CHECK(lock.packages[0].name == "six");
  CHECK(lock.packages[0].dev_dependencies.at("dev")[0].name == "pytest");
  CHECK_FALSE(lock.packages[0].requires_dist);
}

TEST_CASE("uv.lock revision 4 omits [package.metadata]; a newer revision is read with a warning") {
  auto lock = parse_uv(
      "version = 1\nrevision = 4\nrequires-python = \">=3.12\"\n[[package]]\nname = \"a\"\n"
      "version = \"1\"\nsource = { virtual = \".\" }\n",
      "uv.lock");
  CHECK(lock.revision == 4);
  CHECK(lock.warnings.empty());
  CHECK_FALSE(lock.packages[0].requires_dist);
  auto newer = parse_uv("version = 1\nrevision = 9\nrequires-python = \">=3.12\"\n", "uv.lock");
  REQUIRE(newer.warnings.size() == 1);
  CHECK(newer.warnings[0].find("revision 9") != std::string::npos);
}

TEST_CASE("uv.lock version 2 is a clear error") {
  auto msg = error_of("version = 2\nrevision = 0\nrequires-python = \">=3.12\"\n");
  CHECK(msg.rfind("uv.lock:1: lock file version 2 is not supported", 0) == 0);
}

TEST_CASE("uv.lock: malformed TOML names the line") {
  auto msg = error_of("version = 1\nrequires-python = \">=3.12\"\n\n[[package]]\nname = \"a\nversion = \"1\"\n");
  CHECK(msg.rfind("uv.lock:5: ", 0) == 0);
}

TEST_CASE("uv.lock: schema problems name package and line, all at once") {
  auto msg = error_of(R"(version = 1
requires-python = ">=3.12"

[[package]]
name = "a"
version = "1"

[[package]]
name = "b"
version = "1"
source = { registry = "https://index.invalid/simple" }
wheels = [{ hash = "sha256:00" }]
)");
  CHECK(msg.find("uv.lock:4: package 'a': has no source") != std::string::npos);
  CHECK(msg.find("uv.lock:12: package 'b': wheel has no url, path or filename") != std::string::npos);
}

TEST_CASE("uv.lock: the same package locked twice names both lines") {
  auto msg = error_of(R"(version = 1
requires-python = ">=3.12"

[[package]]
name = "six"
version = "1.16.0"
source = { registry = "https://index.invalid/simple" }

[[package]]
name = "Six"
version = "1.16.0"
source = { registry = "https://index.invalid/simple" }
)");
  CHECK(msg == "uv.lock:9: package 'six' 1.16.0 is locked twice, at lines 4 and 9 (remove one, or run `uv lock`)");
}

TEST_CASE("not a uv.lock at all") {
  CHECK(error_of("title = \"x\"\n").find("not a uv.lock") != std::string::npos);
}

TEST_CASE("pylock.toml (PEP 751) reads into the same model") {
  auto lock = parse_pylock(R"(lock-version = "1.0"
environments = ["sys_platform == 'emscripten'"]
requires-python = ">=3.12"
extras = ["fast"]
dependency-groups = ["dev"]
default-groups = ["dev"]
created-by = "hand"

[[packages]]
name = "Attrs"
version = "25.1.0"
index = "https://index.invalid/simple"
dependencies = [{ name = "six" }]

[[packages.wheels]]
name = "attrs-25.1.0-py3-none-any.whl"
url = "https://files.invalid/attrs-25.1.0-py3-none-any.whl"
size = 63152
hashes = { sha256 = "1111111111111111111111111111111111111111111111111111111111111111" }

[[packages]]
name = "orjson"
version = "3.0"
marker = "'fast' in extras"
sdist = { url = "https://files.invalid/orjson-3.0.tar.gz", hashes = { sha256 = "2222222222222222222222222222222222222222222222222222222222222222" } }

[[packages]]
name = "mylib"
directory = { path = "libs/mylib", editable = true }

[[packages]]
name = "gitpkg"
version = "1.0"
vcs = { type = "git", url = "https://git.invalid/gitpkg", commit-id = "abc123" }

[[packages]]
name = "direct"
version = "1.0"
archive = { url = "https://files.invalid/direct-1.0-py3-none-any.whl", hashes = { sha256 = "3333333333333333333333333333333333333333333333333333333333333333" } }
)",
                           "pylock.toml");
  CHECK(lock.format == Format::pylock);
  CHECK(lock.supported_markers.size() == 1);
  CHECK(lock.pylock_extras == std::vector<std::string>{"fast"});
  CHECK(lock.pylock_groups == std::vector<std::string>{"dev"});
  CHECK(lock.pylock_default_groups == std::vector<std::string>{"dev"});
  REQUIRE(lock.packages.size() == 5);
  const Package& attrs = lock.packages[0];
  CHECK(attrs.name == "attrs");
  CHECK(attrs.source.kind == SourceKind::registry);
  CHECK(attrs.wheels[0].filename == "attrs-25.1.0-py3-none-any.whl");
  CHECK(attrs.wheels[0].sha256() == std::string(64, '1'));
  CHECK(attrs.dependencies[0].name == "six");
  CHECK(lock.packages[1].resolution_marker == "'fast' in extras");
  CHECK(lock.packages[1].sdist->filename == "orjson-3.0.tar.gz");
  CHECK(lock.packages[2].source.kind == SourceKind::editable);
  CHECK(lock.packages[2].source.value == "libs/mylib");
  CHECK(lock.packages[3].source.kind == SourceKind::git);
  CHECK(lock.packages[4].source.kind == SourceKind::url);
  CHECK(lock.packages[4].wheels.size() == 1);
}

TEST_CASE("pylock.toml: an unknown major lock-version is an error") {
  CHECK(error_of("lock-version = \"2.0\"\n", true).find("lock-version 2.0 is not supported") != std::string::npos);
}

TEST_CASE("pylock.toml: a vcs or directory that is not a table is an error, not a package from an index") {
  const std::string head = "lock-version = \"1.0\"\n[[packages]]\nname = \"six\"\nversion = \"1.16.0\"\n";
  CHECK(error_of(head + "vcs = \"git+https://git.invalid/six\"\n", true) ==
        "pylock.toml:5: package 'six': vcs must be a table");
  CHECK(error_of(head + "directory = \"../six\"\n", true) == "pylock.toml:5: package 'six': directory must be a table");
}

TEST_CASE("load_for_project: uv.lock, else pylock.toml, --lock wins, none is a clear error") {
  namespace fs = std::filesystem;
  auto dir = pb::fs::make_temp_dir(fs::temp_directory_path() / "x", "pb-lock-");
  try {
    load_for_project(dir);
    FAIL("expected an error");
  } catch (const pb::Error& e) {
    std::string msg = e.what();
    CHECK(msg.find("no uv.lock or pylock.toml in " + dir.string()) != std::string::npos);
    CHECK(msg.find("uv lock") != std::string::npos);
  }
  pb::fs::write_file_atomic(dir / "pylock.toml", "lock-version = \"1.0\"\n");
  CHECK(load_for_project(dir).format == Format::pylock);
  pb::fs::write_file_atomic(dir / "uv.lock", "version = 1\nrequires-python = \">=3.12\"\n");
  CHECK(load_for_project(dir).format == Format::uv);
  CHECK(load_for_project(dir, dir / "pylock.toml").format == Format::pylock);
  pb::fs::write_file_atomic(dir / "pylock.web.toml", "lock-version = \"1.0\"\n");
  CHECK(load_for_project(dir, dir / "pylock.web.toml").format == Format::pylock);
  CHECK_THROWS_AS(load_for_project(dir, dir / "missing.lock"), pb::Error);
  // --lock <(uv export ...): a pipe.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::string text = "version = 1\nrequires-python = \">=3.11\"\n";
  REQUIRE(::write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fds[1]);
  CHECK(load_for_project(dir, "/dev/fd/" + std::to_string(fds[0])).requires_python == ">=3.11");
  ::close(fds[0]);
  fs::remove_all(dir);
}

TEST_CASE("every real uv.lock parses") {
  namespace fs = std::filesystem;
  fs::path real = fs::path(PYBUNDLE_SOURCE_ROOT).parent_path() / "shared" / "real-locks";
  if (!fs::exists(real)) return;
  size_t total = 0;
  for (const auto& dir : fs::directory_iterator(real)) {
    CAPTURE(dir.path());
    auto lock = load_uv(dir.path() / "uv.lock");
    CHECK(lock.version == 1);
    CHECK_FALSE(lock.packages.empty());
    for (const auto& p : lock.packages)
      for (const auto& w : p.wheels) CHECK_FALSE(w.filename.empty());
    total += lock.packages.size();
  }
  CHECK(total == 1230);
}

namespace {
// What a reading of a lock gives, in one comparable text.
std::string summary(const pb::lock::Lock& lock) {
  std::string out = lock.requires_python + "|" + std::to_string(lock.members.size()) + "\n";
  for (const auto& p : lock.packages) {
    out += p.name + " " + p.version + " @" + std::to_string(p.line) + " " + p.source.value + " deps " +
           std::to_string(p.dependencies.size()) + " opt " + std::to_string(p.optional_dependencies.size()) + " dev " +
           std::to_string(p.dev_dependencies.size()) + " rd " +
           std::to_string(p.requires_dist ? p.requires_dist->size() : 99999) + " sdist " +
           (p.sdist ? p.sdist->hash : "");
    for (const auto& w : p.wheels) out += " " + w.filename + "=" + w.hash + ":" + std::to_string(w.size.value_or(0));
    for (const auto& d : p.dependencies) out += " " + d.name + "[" + d.marker + "]";
    out += "\n";
  }
  return out;
}
}  // namespace

TEST_CASE("uv.lock: read a package at a time, the same as whole") {
  namespace fs = std::filesystem;
  fs::path real = fs::path(PYBUNDLE_SOURCE_ROOT).parent_path() / "shared" / "real-locks";
  std::vector<std::string> texts{std::string(kUvLock)};
  if (fs::exists(real))
    for (const auto& dir : fs::directory_iterator(real)) texts.push_back(pb::fs::read_file(dir.path() / "uv.lock"));
  for (const auto& text : texts) {
    // A top-level table after the packages cannot be cut into pieces: that text is read whole.
    CHECK(summary(parse_uv(text, "uv.lock")) == summary(parse_uv(text + "\n[zz-read-whole]\n", "uv.lock")));
  }
  // A header line inside a multi-line string is not a header; CRLF lines are.
  auto lock = parse_uv(
      "version = 1\r\nrequires-python = \">=3.12\"\r\n[[package]]\r\nname = \"a\"\r\n"
      "version = \"1\"\r\nsource = { virtual = \".\" }\r\nnote = \"\"\"\r\n[[package]]\r\n\"\"\"\r\n"
      "[[package]]\r\nname = \"b\"\r\nversion = \"2\"\r\nsource = { virtual = \".\" }\r\n",
      "uv.lock");
  REQUIRE(lock.packages.size() == 2);
  CHECK(lock.packages[1].name == "b");
  CHECK(lock.packages[1].line == 10);
}

TEST_CASE("uv.lock: wheel file names are percent-decoded from their URLs") {
  auto lock = parse_uv(R"(version = 1
requires-python = ">=3.12"

[[package]]
name = "torch"
version = "2.5.0+cu121"
source = { registry = "https://index.invalid/whl/cu121" }
wheels = [{ url = "https://files.invalid/whl/cu121/torch-2.5.0%2Bcu121-cp313-cp313-linux_x86_64.whl", hash = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" }]
)",
                       "uv.lock");
  CHECK(lock.packages[0].wheels[0].filename == "torch-2.5.0+cu121-cp313-cp313-linux_x86_64.whl");
}
