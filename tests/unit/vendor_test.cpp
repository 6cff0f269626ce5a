// The vendor stage: safe extraction, RECORD checks, trimming, the manifest, archives.
// Wheels are made here byte by byte (a stored zip), so every malicious case is exact.
#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>

#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "vendor/paths.hpp"
#include "vendor/vendor.hpp"

namespace stdfs = std::filesystem;
using pb::vendor::BundleSpec;
using pb::vendor::Input;

namespace {

uint32_t crc32(const std::string& data) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put16(std::string& s, uint32_t v) {
  s += static_cast<char>(v & 0xFF);
  s += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}

struct ZipEntry {
  std::string name, data;
  uint32_t mode = 0100644;  // unix mode in the external attributes
};

// A stored (uncompressed) zip, written by hand so names, types and duplicates are exact.
std::string make_zip(const std::vector<ZipEntry>& entries) {
  std::string out, central;
  for (const auto& e : entries) {
    uint32_t offset = static_cast<uint32_t>(out.size());
    uint32_t crc = crc32(e.data), size = static_cast<uint32_t>(e.data.size());
    auto header = [&](std::string& s, bool is_central) {
      put32(s, is_central ? 0x02014b50 : 0x04034b50);
      if (is_central) put16(s, (3 << 8) | 20);  // made by Unix, so the mode counts
      put16(s, 20);
      put16(s, 0x800);  // UTF-8 names
      put16(s, 0);      // stored
      put16(s, 0);      // 00:00:00
      put16(s, 0x21);   // 1980-01-01
      put32(s, crc);
      put32(s, size);
      put32(s, size);
      put16(s, static_cast<uint32_t>(e.name.size()));
      put16(s, 0);
      if (is_central) {
        put16(s, 0);
        put16(s, 0);
        put16(s, 0);
        put32(s, e.mode << 16);
        put32(s, offset);
      }
      s += e.name;
    };
    header(out, false);
    out += e.data;
    header(central, true);
  }
  uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint32_t>(entries.size()));
  put16(out, static_cast<uint32_t>(entries.size()));
  put32(out, static_cast<uint32_t>(central.size()));
  put32(out, cd_offset);
  put16(out, 0);
  return out;
}

std::string record_hash(const std::string& data) {
  pb::Hash h;
  h.update(data);
  return "sha256=" + h.base64url();
}

// A wheel whose RECORD lists every entry, unless told otherwise.
struct WheelBuilder {
  std::string dist = "demo", version = "1.0";
  std::vector<ZipEntry> entries;
  std::set<std::string> unlisted;           // left out of RECORD
  std::map<std::string, std::string> rows;  // RECORD row overrides, by name
  std::vector<std::string> extra_rows;      // rows for entries that do not exist

  std::string dist_info() const { return dist + "-" + version + ".dist-info"; }
  WheelBuilder& add(std::string name, std::string data, uint32_t mode = 0100644) {
    entries.push_back({std::move(name), std::move(data), mode});
    return *this;
  }
  std::string bytes() const {
    auto all = entries;
    all.push_back({dist_info() + "/METADATA", "Metadata-Version: 2.1\nName: " + dist + "\nVersion: " + version + "\n"});
    std::string record;
    for (const auto& e : all) {
      if (unlisted.count(e.name) || e.name.back() == '/') continue;
      if (auto r = rows.find(e.name); r != rows.end()) {
        record += r->second + "\n";
        continue;
      }
      record += e.name + "," + record_hash(e.data) + "," + std::to_string(e.data.size()) + "\n";
    }
    for (const auto& r : extra_rows) record += r + "\n";
    record += dist_info() + "/RECORD,,\n";
    all.push_back({dist_info() + "/RECORD", record});
    return make_zip(all);
  }
  std::string filename() const { return dist + "-" + version + "-py3-none-any.whl"; }
};

struct Sandbox {
  stdfs::path dir = pb::fs::make_temp_dir(stdfs::temp_directory_path() / "x", "pb-vendor-test-");
  ~Sandbox() {
    std::error_code ec;
    stdfs::remove_all(dir, ec);
  }
  Input wheel(const WheelBuilder& w) const { return wheel(w.filename(), w.bytes(), w.dist, w.version); }
  Input wheel(const std::string& filename, const std::string& bytes, const std::string& name = "demo",
              const std::string& version = "1.0") const {
    auto path = dir / "wheels" / filename;
    stdfs::create_directories(path.parent_path());
    pb::fs::write_file_atomic(path, bytes);
    return Input{name, version, "lock-wheel", filename, pb::sha256_hex(bytes), path};
  }
  BundleSpec spec(std::vector<Input> inputs) const {
    BundleSpec s;
    s.out = dir / "out" / "bundle";
    s.target = {.abi = "2025_0", .platform = "emscripten_4_0_9", .pyodide = "0.29.3", .python = "3.13.2"};
    s.inputs = std::move(inputs);
    s.options.mtime = 0;
    return s;
  }
  // Names in out/'s parent: the bundle, and any staging left behind.
  std::set<std::string> out_listing() const {
    std::set<std::string> names;
    std::error_code ec;
    for (stdfs::directory_iterator it(dir / "out", ec), end; !ec && it != end; it.increment(ec))
      names.insert(it->path().filename().string());
    return names;
  }
};

// Runs assemble expecting failure; returns the problems, and checks nothing was left behind.
std::vector<std::string> refused(const Sandbox& box, const BundleSpec& spec) {
  auto before = box.out_listing();
  std::vector<std::string> problems;
  try {
    pb::vendor::assemble(spec);
    FAIL("assemble accepted a bad input");
  } catch (const pb::Errors& e) {
    problems = e.problems();
  }
  CHECK(box.out_listing() == before);
  return problems;
}

bool has(const std::vector<std::string>& problems, const std::string& text) {
  for (const auto& p : problems)
    if (p.find(text) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& p : v) s += p + "\n";
  return s;
}

}  // namespace

TEST_CASE("unsafe archive names are named") {
  using pb::vendor::unsafe_name;
  CHECK(!unsafe_name("pkg/mod.py"));
  CHECK(!unsafe_name("pkg/sub/"));
  CHECK(!unsafe_name("pkg/caf\xc3\xa9.py"));
  CHECK(*unsafe_name("/etc/passwd") == "absolute path");
  CHECK(unsafe_name("C:/x.py")->find("drive letter") != std::string::npos);
  CHECK(unsafe_name("../x.py")->find("'..'") != std::string::npos);
  CHECK(unsafe_name("pkg/../../x.py")->find("'..'") != std::string::npos);
  CHECK(unsafe_name("pkg/./x.py"));
  CHECK(unsafe_name("pkg//x.py"));
  CHECK(unsafe_name("pkg\\..\\x.py"));
  CHECK(unsafe_name("bad\xff.py"));
  CHECK(unsafe_name("bad\xc0\xaf.py"));  // overlong '/'
  CHECK(unsafe_name(std::string("a\nb")));
  CHECK(unsafe_name(""));
  // Names the filesystem cannot hold fail as the wheel's problem, not as an I/O error mid-extraction.
  CHECK(*unsafe_name("pkg/" + std::string(256, 'd') + "/x.py") == "path component longer than 255 bytes");
  std::string deep = "pkg";
  for (int i = 0; i < 10; ++i) deep += "/" + std::string(200, 'd');
  CHECK(*unsafe_name(deep) == "name longer than 1024 bytes");
  CHECK(!unsafe_name("pkg/" + std::string(255, 'd')));
}

TEST_CASE("names in messages are short and show control characters") {
  using pb::vendor::shown_name;
  CHECK(shown_name("pkg/a\x01"
                   "b\n.py") == "pkg/a\\x01b\\x0a.py");
  auto shown = shown_name("pkg/" + std::string(5000, 'd') + "/x.py");
  CHECK(shown.size() == 163);
  CHECK(shown.starts_with("pkg/ddd"));
  CHECK(shown.ends_with("ddd/x.py"));
  CHECK(shown.find("...") != std::string::npos);
}

TEST_CASE("globs") {
  using pb::vendor::glob_hits;
  using pb::vendor::glob_match;
  CHECK(glob_match("*.py", "x.py"));
  CHECK(!glob_match("*.py", "a/x.py"));
  CHECK(glob_match("**/*.py", "x.py"));
  CHECK(glob_match("**/*.py", "a/b/x.py"));
  CHECK(glob_match("a/**", "a/b/c"));
  CHECK(glob_match("**/tests/**", "python_modules/sympy/tests/test_x.py"));
  CHECK(glob_match("p?.txt", "p1.txt"));
  CHECK(!glob_match("p?.txt", "p/.txt"));
  CHECK(glob_match("[a-c]x", "bx"));
  CHECK(!glob_match("[!a-c]x", "bx"));
  CHECK(glob_match("[!a-c]x", "dx"));
  // Patterns without '/' match any component; with '/', the path or a parent, from either root.
  CHECK(glob_hits("*.pyi", "python_modules/pkg/x.pyi"));
  CHECK(glob_hits("plotting", "python_modules/sympy/plotting/plot.py"));
  CHECK(glob_hits("sympy/plotting", "python_modules/sympy/plotting/plot.py"));
  CHECK(glob_hits("python_modules/sympy/plotting/**", "python_modules/sympy/plotting/plot.py"));
  CHECK(!glob_hits("sympy/plot", "python_modules/sympy/plotting/plot.py"));
  CHECK(!glob_hits("python_modules", "python_modules/x.py"));
}

namespace {
// The backtracking matcher globs had before the linear one, kept as the reference for what
// every pattern means.
bool reference_class(std::string_view p, char c, bool& matched, size_t& len) {
  size_t i = 1;
  bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
  if (negate) ++i;
  bool hit = false, first = true;
  while (i < p.size() && (p[i] != ']' || first)) {
    first = false;
    char lo = p[i], hi = lo;
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      hi = p[i + 2];
      i += 3;
    } else {
      ++i;
    }
    if (lo <= c && c <= hi) hit = true;
  }
  if (i >= p.size()) return false;
  matched = (hit != negate) && c != '/';
  len = i + 1;
  return true;
}

bool reference_match(std::string_view p, std::string_view s) {
  while (!p.empty()) {
    if (p.substr(0, 2) == "**") {
      auto rest = p.substr(2);
      while (rest.substr(0, 2) == "**") rest = rest.substr(2);
      if (!rest.empty() && rest[0] == '/') {
        rest = rest.substr(1);
        if (reference_match(rest, s)) return true;
        for (size_t i = 0; i < s.size(); ++i)
          if (s[i] == '/' && reference_match(rest, s.substr(i + 1))) return true;
        return false;
      }
      for (size_t i = 0; i <= s.size(); ++i)
        if (reference_match(rest, s.substr(i))) return true;
      return false;
    }
    if (p[0] == '*') {
      auto rest = p.substr(1);
      for (size_t i = 0; i <= s.size(); ++i) {
        if (reference_match(rest, s.substr(i))) return true;
        if (i < s.size() && s[i] == '/') break;
      }
      return false;
    }
    if (s.empty()) return false;
    if (p[0] == '?') {
      if (s[0] == '/') return false;
    } else if (p[0] == '[') {
      bool hit = false;
      size_t len = 0;
      if (reference_class(p, s[0], hit, len)) {
        if (!hit) return false;
        p = p.substr(len);
        s = s.substr(1);
        continue;
      }
      if (s[0] != '[') return false;
    } else if (p[0] == '\\' && p.size() > 1) {
      if (p[1] != s[0]) return false;
      p = p.substr(1);
    } else if (p[0] != s[0]) {
      return false;
    }
    p = p.substr(1);
    s = s.substr(1);
  }
  return s.empty();
}
}  // namespace

TEST_CASE("globs mean what the backtracking matcher meant, on every small pattern and path") {
  const std::vector<std::string> atoms = {"a", "b", "/", "*", "**", "**/", "?", "[a]", "[!a]", "[", "\\*", "\\"};
  const std::vector<std::string> paths = {"",       "a",  "b", "/",     "ab",    "a/b", "a/",  "/a",
                                          "aa/b/a", "[a", "*", "a/b/c", "ba/ab", "\\a", "a//b"};
  size_t checked = 0;
  std::function<void(std::string, int)> patterns = [&](std::string p, int depth) {
    for (const auto& s : paths) {
      INFO("pattern '" << p << "' path '" << s << "'");
      CHECK(pb::vendor::glob_match(p, s) == reference_match(p, s));
      ++checked;
    }
    if (depth == 0) return;
    for (const auto& a : atoms) patterns(p + a, depth - 1);
  };
  patterns("", 3);
  CHECK(checked > 20000);
}

TEST_CASE("globs take time linear in the path, whatever the pattern") {
  // Backtracking tried every split of the path between the stars: this never finished.
  std::string pattern;
  for (int i = 0; i < 10; ++i) pattern += "**a";
  pattern += "**/c";
  std::string path(2000, 'a');
  CHECK(!pb::vendor::glob_match(pattern, path));
  CHECK(!pb::vendor::glob_hits(pattern, "python_modules/" + path + "/" + path));
  CHECK(pb::vendor::glob_match(pattern, path + "/c"));
  std::string names;
  for (int i = 0; i < 12; ++i) names += "*a";
  CHECK(!pb::vendor::glob_match(names + "b", std::string(3000, 'a')));
}

TEST_CASE("default trimming rules") {
  using pb::vendor::trim_reason;
  CHECK(trim_reason("pkg/__pycache__/m.cpython-313.pyc", false) == "__pycache__");
  CHECK(trim_reason("pkg/m.pyc", true) == "bytecode");
  CHECK(trim_reason("pkg/m.pyc", false) == "");  // sourceless module: the only code there is
  CHECK(trim_reason("pkg/m.pyo", false) == "bytecode");
  CHECK(trim_reason("pkg/m.pyi", false) == "stubs");
  CHECK(trim_reason("pkg/tests/test_m.py", false) == "tests");
  CHECK(trim_reason("tests/__init__.py", false) == "tests");
  CHECK(trim_reason("pkg/conftest.py", false) == "tests");
  CHECK(trim_reason("werkzeug/test.py", false) == "");  // a module, not a test suite
  CHECK(trim_reason("pkg/testing/__init__.py", false) == "");
  CHECK(trim_reason("pkg/docs/index.py", false) == "docs");
  CHECK(trim_reason("pkg/README.rst", false) == "docs");
  CHECK(trim_reason("pkg/LICENSE.md", false) == "");
  CHECK(trim_reason("pkg-1.0.dist-info/README.md", false) == "");
  CHECK(trim_reason("pkg/data.txt", false) == "");
  CHECK(trim_reason("pkg/py.typed", false) == "");
}

TEST_CASE("a clean wheel is extracted and verified") {
  Sandbox box;
  WheelBuilder w;
  w.add("demo/", "", 040755).add("demo/__init__.py", "from .core import x\n").add("demo/core.py", "x = 1\n");
  w.add("demo/caf\xc3\xa9.py", "y = 2\n");
  auto spec = box.spec({box.wheel(w)});
  auto staged = pb::vendor::assemble(spec);
  CHECK(staged.parent_path() == spec.out.parent_path());
  CHECK(pb::fs::read_file(staged / "python_modules/demo/core.py") == "x = 1\n");
  CHECK(pb::fs::read_file(staged / "python_modules/demo/caf\xc3\xa9.py") == "y = 2\n");
  CHECK(stdfs::exists(staged / "python_modules/demo-1.0.dist-info/RECORD"));
  auto m = nlohmann::json::parse(pb::fs::read_file(staged / "bundle.json"));
  CHECK(m["schema"] == 1);
  CHECK(m["snapshot"].is_null());
  CHECK(m["packages"][0]["wheel"] == "demo-1.0-py3-none-any.whl");
  pb::fs::replace_dir(staged, spec.out);
  CHECK(box.out_listing() == std::set<std::string>{"bundle"});
}

TEST_CASE("unsafe entries are refused, one line each naming wheel and entry") {
  Sandbox box;
  struct Case {
    std::string what;
    ZipEntry entry;
    std::string message;
  };
  std::vector<Case> cases = {
      {"absolute path", {"/tmp/evil.py", "x"}, "entry '/tmp/evil.py': absolute path"},
      {"dot-dot", {"demo/../../evil.py", "x"}, "entry 'demo/../../evil.py': '..' path component"},
      {"backslash", {"..\\evil.py", "x"}, "entry '../evil.py': '..' path component"},  // libarchive reads '\\' as '/'
      {"symlink", {"demo/link.py", "/etc/passwd", 0120777}, "entry 'demo/link.py': symbolic link"},
      {"character device", {"demo/tty", "", 0020644}, "entry 'demo/tty': device file"},
      {"block device", {"demo/disk", "", 0060644}, "entry 'demo/disk': device file"},
      {"socket", {"demo/sock", "", 0140644}, "entry 'demo/sock': socket"},
      // (libarchive itself reads a zip FIFO entry as a regular file, which is harmless.)
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    WheelBuilder w;
    w.add("demo/__init__.py", "").add(c.entry.name, c.entry.data, c.entry.mode);
    auto problems = refused(box, box.spec({box.wheel(w)}));
    REQUIRE(problems.size() >= 1);
    CHECK_MESSAGE(has(problems, "demo-1.0-py3-none-any.whl: " + c.message), joined(problems));
    for (const auto& p : problems) CHECK(p.find('\n') == std::string::npos);
  }
}

TEST_CASE("duplicate entries and case-only clashes are refused") {
  Sandbox box;
  WheelBuilder dup;
  dup.add("demo/x.py", "a").add("demo/x.py", "a");
  CHECK(has(refused(box, box.spec({box.wheel(dup)})), "entry 'demo/x.py': duplicate entry"));

  WheelBuilder ci;
  ci.add("demo/Readme.py", "a").add("demo/README.py", "b");
  CHECK(has(refused(box, box.spec({box.wheel(ci)})),
            "entry 'demo/README.py': differs only by case from entry 'demo/Readme.py'"));
}

TEST_CASE("zip bombs: caps on uncompressed size and compression ratio") {
  Sandbox box;
  WheelBuilder big;
  big.add("demo/zeros.bin", std::string(3 << 20, '\0'));
  auto spec = box.spec({box.wheel(big)});
  spec.options.max_unpacked = 2 << 20;
  CHECK(has(refused(box, spec), "demo-1.0-py3-none-any.whl: unpacks to more than 2 MiB"));

  WheelBuilder many;
  for (int i = 0; i < 50; ++i) many.add("demo/m" + std::to_string(i) + ".py", "");
  spec = box.spec({box.wheel(many)});
  spec.options.max_entries = 40;
  CHECK(has(refused(box, spec), "demo-1.0-py3-none-any.whl: holds more than 40 entries (the cap)"));

  // A deflated zip of zeros: about 1000:1.
  auto path = box.dir / "bomb-1.0-py3-none-any.whl";
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  archive_write_open_filename(a, path.c_str());
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "bomb/zeros.bin");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, 8 << 20);
  archive_write_header(a, e);
  std::string zeros(1 << 20, '\0');
  for (int i = 0; i < 8; ++i) archive_write_data(a, zeros.data(), zeros.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  auto bomb = box.spec({Input{"bomb", "1.0", "lock-wheel", path.filename().string(), "", path}});
  CHECK(has(refused(box, bomb), "bomb-1.0-py3-none-any.whl: compression ratio exceeds 100:1"));
  bomb.options.max_ratio = 100000;
  CHECK(has(refused(box, bomb), "bomb-1.0-py3-none-any.whl: no .dist-info directory"));
}

TEST_CASE("every file is checked against RECORD") {
  Sandbox box;
  {
    WheelBuilder w;
    w.add("demo/a.py", "print('tampered')\n");
    w.rows["demo/a.py"] = "demo/a.py," + record_hash("print('original')\n") + ",18";
    CHECK(has(refused(box, box.spec({box.wheel(w)})), "entry 'demo/a.py': sha256 does not match RECORD"));
  }
  {
    WheelBuilder w;
    w.add("demo/a.py", "abc");
    w.rows["demo/a.py"] = "demo/a.py," + record_hash("abc") + ",4";
    CHECK(has(refused(box, box.spec({box.wheel(w)})), "entry 'demo/a.py': size 3 differs from RECORD's 4"));
  }
  {
    WheelBuilder w;
    w.add("demo/a.py", "abc").add("demo/sneaky.py", "import os\n");
    w.unlisted.insert("demo/sneaky.py");
    CHECK(has(refused(box, box.spec({box.wheel(w)})), "entry 'demo/sneaky.py': not listed in RECORD"));
  }
  {
    WheelBuilder w;
    w.add("demo/a.py", "abc");
    w.extra_rows.push_back("demo/gone.py," + record_hash("x") + ",1");
    CHECK(has(refused(box, box.spec({box.wheel(w)})), "entry 'demo/gone.py': listed in RECORD but missing"));
  }
  {
    WheelBuilder w;
    w.add("demo/a.py", "abc");
    w.rows["demo/a.py"] = "demo/a.py,,3";
    CHECK(has(refused(box, box.spec({box.wheel(w)})), "entry 'demo/a.py': RECORD gives no hash"));
  }
  {
    WheelBuilder w;
    w.add("demo/a.py", "abc");
    w.rows["demo/a.py"] = "demo/a.py,md5=kAFQmDzST7DWlj99KOF_cg,3";
    CHECK(has(refused(box, box.spec({box.wheel(w)})), "entry 'demo/a.py': RECORD hash uses md5"));
  }
  {
    // Signature files need no RECORD row, and are not shipped.
    WheelBuilder w;
    w.add("demo/a.py", "abc").add("demo-1.0.dist-info/RECORD.jws", "sig");
    w.unlisted.insert("demo-1.0.dist-info/RECORD.jws");
    pb::vendor::Report report;
    auto staged = pb::vendor::assemble(box.spec({box.wheel(w)}), &report);
    CHECK(!stdfs::exists(staged / "python_modules/demo-1.0.dist-info/RECORD.jws"));
    REQUIRE(report.dropped.size() == 1);
    CHECK(report.dropped[0].reason == "signature");
    stdfs::remove_all(staged);
  }
  {
    // Other strong algorithms from hashlib are verified too.
    WheelBuilder w;
    w.add("demo/a.py", "abc");
    w.rows["demo/a.py"] =
        "demo/a.py,sha512=3a81oZNherrMQXNJriBBMRLm-k6JqX6iCp7u5ktV05ohkpkqJ0_BqDa6PCOj_uu9RU1EI2Q86A4qmslPpUyknw,3";
    auto staged = pb::vendor::assemble(box.spec({box.wheel(w)}));
    stdfs::remove_all(staged);
  }
}

TEST_CASE("wheels without exactly one .dist-info and RECORD are refused") {
  Sandbox box;
  CHECK(has(refused(box, box.spec({box.wheel("x-1-py3-none-any.whl", make_zip({{"x.py", ""}}))})),
            "x-1-py3-none-any.whl: no .dist-info directory"));
  WheelBuilder two;
  two.add("other-2.0.dist-info/METADATA", "Name: other\n");
  CHECK(has(refused(box, box.spec({box.wheel(two)})), "several .dist-info directories"));
  // Damage names the file and whether fetching it again can help.
  auto broken = box.wheel("x-1-py3-none-any.whl", "not a zip at all", "x");
  auto head = "x-1-py3-none-any.whl (" + broken.file.string() + "): not a readable zip archive";
  CHECK(has(refused(box, box.spec({broken})), head));
  CHECK(has(refused(box, box.spec({broken})), "has the sha256 the lock pins, so the wheel is damaged as published"));
  broken.sha256.clear();  // a local wheel the lock keeps no hash for
  CHECK(has(refused(box, box.spec({broken})), "the wheel file itself is damaged: build x into a new wheel"));
}

TEST_CASE(".data: purelib and platlib join python_modules, scripts, headers and data are dropped") {
  Sandbox box;
  WheelBuilder w;
  w.add("demo/__init__.py", "")
      .add("demo-1.0.data/purelib/demo_extra.py", "a = 1\n")
      .add("demo-1.0.data/platlib/demo_native/__init__.py", "b = 2\n")
      .add("demo-1.0.data/scripts/demo-cli", "#!python\n", 0100755)
      .add("demo-1.0.data/headers/demo.h", "int x;\n")
      .add("demo-1.0.data/data/share/demo.txt", "doc\n");
  pb::vendor::Report report;
  auto staged = pb::vendor::assemble(box.spec({box.wheel(w)}), &report);
  CHECK(pb::fs::read_file(staged / "python_modules/demo_extra.py") == "a = 1\n");
  CHECK(pb::fs::read_file(staged / "python_modules/demo_native/__init__.py") == "b = 2\n");
  CHECK(!stdfs::exists(staged / "python_modules/demo-1.0.data"));
  std::map<std::string, std::string> dropped;
  for (const auto& d : report.dropped) dropped[d.entry] = d.reason;
  CHECK(dropped == std::map<std::string, std::string>{{"demo-1.0.data/scripts/demo-cli", "scripts"},
                                                      {"demo-1.0.data/headers/demo.h", "headers"},
                                                      {"demo-1.0.data/data/share/demo.txt", "data"}});
  stdfs::remove_all(staged);

  WheelBuilder odd;
  odd.add("demo-1.0.data/elsewhere/x", "");
  CHECK(has(refused(box, box.spec({box.wheel(odd)})), "unknown .data scheme 'elsewhere'"));

  WheelBuilder twice;  // the same file from the package root and from purelib
  twice.add("demo/x.py", "").add("demo-1.0.data/purelib/demo/x.py", "");
  CHECK(has(refused(box, box.spec({box.wheel(twice)})),
            "demo-1.0-py3-none-any.whl: entries 'demo/x.py' and 'demo-1.0.data/purelib/demo/x.py' both write "
            "python_modules/demo/x.py"));
}

TEST_CASE("a Pyodide wheel's shared libraries must be wasm side modules: else one line naming wheel, file, cause") {
  Sandbox box;
  const std::string wasm("\0asm\x01\0\0\0", 8);
  // A dylink.0 custom section, then a one-byte type section.
  const std::string side = wasm + std::string("\0\x09\x08", 3) + "dylink.0" + std::string("\x01\x01\0", 3);
  const std::string whl = "demo-1.0-cp313-cp313-pyodide_2025_0_wasm32.whl";
  auto with = [&](const std::string& so, const std::string& filename) {
    WheelBuilder w;
    w.add("demo/__init__.py", "").add("demo/_ext.cpython-313-wasm32-emscripten.so", so).add("demo/libz.so.1", side);
    return box.spec({box.wheel(filename, w.bytes())});
  };
  CHECK_NOTHROW(pb::vendor::assemble(with(side, whl)));
  struct Case {
    std::string what, so, message;
  };
  std::vector<Case> cases = {
      {"truncated", side.substr(0, side.size() - 1),
       "a truncated WebAssembly module (a section ends at byte 22, past its 21 bytes)"},
      {"cut in a header", wasm + std::string("\0", 1),
       "a truncated WebAssembly module (it ends inside a section header at byte 8)"},
      {"ELF", std::string("\x7f") + "ELF" + std::string(64, '\x01'),
       "an ELF shared library (built for another platform), not a WebAssembly module"},
      {"text", "not a library", "not a WebAssembly module (no wasm magic number)"},
      {"empty", "", "not a WebAssembly module (no wasm magic number)"},
      {"no dylink", wasm + std::string("\x01\x01\0", 3),
       "a WebAssembly module but not a side module (its first section is not dylink.0)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto problems = refused(box, with(c.so, whl));
    REQUIRE(problems.size() == 1);
    CHECK_MESSAGE(has(problems, whl + ": entry 'demo/_ext.cpython-313-wasm32-emscripten.so': " + c.message +
                                    "; Pyodide would not load it: rebuild the wheel with `pyodide build`"),
                  joined(problems));
    CHECK(problems[0].find('\n') == std::string::npos);
    try {
      pb::vendor::assemble(with(c.so, whl));
    } catch (const pb::Errors& e) {
      CHECK(e.code() == pb::Exit::problems);  // a bad wheel, not an I/O error
    }
  }
  // A pure-Python wheel's .so is data to Pyodide until something loads it: not judged here.
  CHECK_NOTHROW(pb::vendor::assemble(with("not a library", "demo-1.0-py3-none-any.whl")));
}

TEST_CASE("a Pyodide wheel's extension module named for another Python or platform: one line naming wheel and file") {
  Sandbox box;
  const std::string side = std::string("\0asm\x01\0\0\0\0\x09\x08", 11) + "dylink.0";
  const std::string whl = "demo-1.0-cp313-cp313-pyodide_2025_0_wasm32.whl";
  auto with = [&](const std::string& name, const std::string& filename = "") {
    WheelBuilder w;
    w.add("demo/__init__.py", "").add("demo/" + name, side);
    return box.spec({box.wheel(filename.empty() ? whl : filename, w.bytes())});
  };
  for (auto ok : {"_x.cpython-313-wasm32-emscripten.so", "_x.abi3.so", "_x.so", "libz.so.1"}) {
    CAPTURE(ok);
    CHECK_NOTHROW(pb::vendor::assemble(with(ok)));
  }
  auto problems = refused(box, with("_x.cpython-312-wasm32-emscripten.so"));
  CHECK_MESSAGE(has(problems, whl + ": entry 'demo/_x.cpython-312-wasm32-emscripten.so': an extension module for "
                                    "CPython 3.12 (its name's tag cpython-312-wasm32-emscripten), which Python 3.13 "
                                    "does not import: use the wheel built for this target"),
                joined(problems));
  problems = refused(box, with("_x.cpython-313-x86_64-linux-gnu.so"));
  CHECK_MESSAGE(has(problems, whl + ": entry 'demo/_x.cpython-313-x86_64-linux-gnu.so': an extension module built "
                                    "for x86_64-linux-gnu (its name's tag cpython-313-x86_64-linux-gnu), not for "
                                    "Pyodide: use the wheel built for this target"),
                joined(problems));
  // A pure-Python wheel is not judged by its file names.
  CHECK_NOTHROW(pb::vendor::assemble(with("_x.cpython-312-wasm32-emscripten.so", "demo-1.0-py3-none-any.whl")));
}

TEST_CASE("two wheels writing one path: an error naming both, with every problem at once") {
  Sandbox box;
  WheelBuilder a, b, c;
  a.dist = "alpha";
  a.add("shared/util.py", "a").add("alpha/__init__.py", "");
  b.dist = "beta";
  b.add("shared/util.py", "b").add("Alpha/x.py", "");
  c.dist = "gamma";
  c.add("../escape.py", "");
  auto problems = refused(box, box.spec({box.wheel(b), box.wheel(a), box.wheel(c)}));
  CHECK_MESSAGE(has(problems, "gamma-1.0-py3-none-any.whl: entry '../escape.py'"), joined(problems));
  // Nothing is claimed while any wheel is unsafe; without gamma the clashes show.
  problems = refused(box, box.spec({box.wheel(b), box.wheel(a)}));
  CHECK_MESSAGE(has(problems,
                    "python_modules/shared/util.py is written by both alpha-1.0-py3-none-any.whl "
                    "(entry 'shared/util.py') and beta-1.0-py3-none-any.whl (entry 'shared/util.py')"),
                joined(problems));
  CHECK_MESSAGE(has(problems,
                    "python_modules/Alpha from beta-1.0-py3-none-any.whl (entry 'Alpha/x.py') differs "
                    "only by case from python_modules/alpha"),
                joined(problems));
}

TEST_CASE("a failed build leaves the previous bundle untouched") {
  Sandbox box;
  WheelBuilder good;
  good.add("demo/__init__.py", "v = 1\n");
  auto spec = box.spec({box.wheel(good)});
  pb::fs::replace_dir(pb::vendor::assemble(spec), spec.out);
  auto before = pb::fs::read_file(spec.out / "bundle.json");

  WheelBuilder bad;
  bad.add("demo/__init__.py", "v = 2\n").add("demo/evil", "", 0120777);
  refused(box, box.spec({box.wheel(bad)}));
  CHECK(pb::fs::read_file(spec.out / "bundle.json") == before);
  CHECK(pb::fs::read_file(spec.out / "python_modules/demo/__init__.py") == "v = 1\n");
}

TEST_CASE("staging directories of killed builds are cleaned up, live ones are not") {
  Sandbox box;
  WheelBuilder w;
  w.add("demo/__init__.py", "");
  auto spec = box.spec({box.wheel(w)});
  stdfs::create_directories(spec.out.parent_path());
  auto dead = spec.out.parent_path() / ".bundle.tmp-999999999-abc";  // beyond pid_max
  auto live = spec.out.parent_path() / (".bundle.tmp-" + std::to_string(::getpid()) + "-abc");
  stdfs::create_directories(dead / "python_modules");
  stdfs::create_directories(live);
  auto staged = pb::vendor::assemble(spec);
  CHECK(!stdfs::exists(dead));
  CHECK(stdfs::exists(live));
  stdfs::remove_all(staged);
}

namespace {

void write(const stdfs::path& path, const std::string& text) {
  stdfs::create_directories(path.parent_path());
  pb::fs::write_file_atomic(path, text);
}

std::set<std::string> listing(const stdfs::path& root) {
  std::set<std::string> out;
  for (auto& e : stdfs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.insert(e.path().lexically_relative(root).generic_string());
  return out;
}

}  // namespace

TEST_CASE("app/: the entry's directory, minus what is never copied") {
  Sandbox box;
  auto project = box.dir / "project";
  write(project / "pyproject.toml", "[project]\nname = 'x'\n");
  write(project / "uv.lock", "version = 1\n");
  write(project / "src/app.py", "import helpers\n");
  write(project / "src/helpers/__init__.py", "");
  write(project / "src/templates/index.html", "<p>hi</p>\n");
  write(project / "src/__pycache__/app.cpython-313.pyc", "junk");
  write(project / "src/.env", "SECRET=1\n");
  write(project / "src/node_modules/x/index.js", "");
  write(project / "src/.venv/lib/site.py", "");
  write(project / "src/venv/lib/site.py", "");
  write(project / "tests/test_app.py", "");
  auto spec = box.spec({});
  spec.app_dir = project;
  spec.entry = "src/app.py";
  auto staged = pb::vendor::assemble(spec);
  CHECK(listing(staged / "app") == std::set<std::string>{"app.py", "helpers/__init__.py", "templates/index.html"});
  auto m = nlohmann::json::parse(pb::fs::read_file(staged / "bundle.json"));
  CHECK(m["entry"] == nlohmann::json{{"path", "app/app.py"}, {"module", "app"}, {"source", "src/app.py"}});
  // That bundle written into the project (`--out out`): the next build's app must not ship it.
  stdfs::copy(staged, project / "out", stdfs::copy_options::recursive);
  write(project / "deploy/wrangler.toml", "# Written by `pybundle export` from out; `wrangler deploy` uploads it.\n");
  write(project / "deploy/src/app.py", "");  // and `pybundle export out --out deploy`
  stdfs::remove_all(staged);

  // An entry at the root: the same rule, the root's whole tree (data files too), minus tests,
  // build output (an earlier bundle too), virtualenvs and the project's own files.
  write(project / "main.py", "");
  write(project / "setup_helpers.py", "");
  write(project / "pkg/__init__.py", "");
  write(project / "pkg/data.json", "{}");
  write(project / "notes/readme.txt", "");
  write(project / "config.yaml", "debug: false\n");
  write(project / "build/lib/old.py", "");
  write(project / "x.egg-info/PKG-INFO", "");
  write(project / "env/pyvenv.cfg", "home = /usr\n");
  write(project / "env/lib/site.py", "");
  write(project / "python_modules/six.py", "");
  spec.entry = "main.py";
  const std::set<std::string> src_tree = {"src/app.py", "src/helpers/__init__.py", "src/templates/index.html"};
  auto flat = src_tree;
  flat.insert({"main.py", "setup_helpers.py", "pkg/__init__.py", "pkg/data.json", "notes/readme.txt", "config.yaml"});
  staged = pb::vendor::assemble(spec);
  CHECK(listing(staged / "app") == flat);
  stdfs::remove_all(staged);

  // [tool.pybundle] include: the entry's package (its directory's modules and packages) and the globs.
  spec.include = std::vector<std::string>{"*.yaml", "notes/**"};
  staged = pb::vendor::assemble(spec);
  CHECK(listing(staged / "app") == std::set<std::string>{"main.py", "setup_helpers.py", "pkg/__init__.py",
                                                         "pkg/data.json", "notes/readme.txt", "config.yaml"});
  stdfs::remove_all(staged);
  spec.include.reset();

  // User excludes reach app/ too; --keep wins over them.
  spec.options.exclude = {"app/pkg/*.json", "setup_*.py", "app/src/**", "app/notes/**", "*.yaml"};
  spec.options.keep = {"setup_helpers.py"};
  pb::vendor::Report report;
  staged = pb::vendor::assemble(spec, &report);
  CHECK(listing(staged / "app") == std::set<std::string>{"main.py", "setup_helpers.py", "pkg/__init__.py"});
  REQUIRE(report.dropped.size() == 6);
  CHECK(report.dropped[2].entry == "pkg/data.json");
  CHECK(report.dropped[2].reason == "exclude");
  stdfs::remove_all(staged);
}

TEST_CASE("app/: a missing entry, and symlinks leading out of the project, are refused") {
  Sandbox box;
  auto project = box.dir / "project";
  write(project / "src/app.py", "");
  write(box.dir / "secret.txt", "key");
  stdfs::create_symlink(box.dir / "secret.txt", project / "src/leak.txt");
  stdfs::create_symlink("app.py", project / "src/alias.py");
  auto spec = box.spec({});
  spec.app_dir = project;
  spec.entry = "src/app.py";
  auto problems = refused(box, spec);
  CHECK_MESSAGE(has(problems, "app: 'leak.txt' is a symbolic link leading outside"), joined(problems));
  stdfs::remove(project / "src/leak.txt");
  auto staged = pb::vendor::assemble(spec);  // a link inside the project is copied as a file
  CHECK(stdfs::is_regular_file(stdfs::symlink_status(staged / "app/alias.py")));
  stdfs::remove_all(staged);

  // The entry's own directory may not lead out either (src -> /elsewhere): nothing under it is read.
  write(box.dir / "elsewhere/app.py", "");
  write(box.dir / "elsewhere/id_rsa", "key");
  stdfs::create_symlink(box.dir / "elsewhere", project / "web");
  spec.entry = "web/app.py";
  problems = refused(box, spec);
  CHECK_MESSAGE(has(problems, "app: 'web' is a symbolic link leading outside"), joined(problems));
  CHECK(problems.size() == 1);
  stdfs::create_symlink(box.dir / "secret.txt", project / "main.py");
  spec.entry = "main.py";
  CHECK(has(refused(box, spec), "app: 'main.py' is a symbolic link leading outside"));

  spec.entry = "src/missing.py";
  CHECK(has(refused(box, spec), "entry 'src/missing.py': no such file"));
  spec.entry = "../outside.py";
  CHECK(has(refused(box, spec), "entry '../outside.py': '..' path component"));
}

TEST_CASE("source packages: their modules and packages, a .dist-info, trimmed like wheels") {
  Sandbox box;
  auto src = box.dir / "packages" / "my-lib";
  write(src / "pyproject.toml", "");
  write(src / "setup.py", "");
  write(src / "src/my_lib/__init__.py", "v = 1\n");
  write(src / "src/my_lib/tests/test_x.py", "");
  write(src / "src/my_lib/__init__.pyi", "");
  write(src / "src/tool.py", "");
  write(src / "src/notes/readme.txt", "");
  auto spec = box.spec({Input{"My.Lib", "0.2", "source", "", "", src}});
  pb::vendor::Report report;
  auto staged = pb::vendor::assemble(spec, &report);
  CHECK(listing(staged / "python_modules") == std::set<std::string>{"my_lib/__init__.py", "tool.py",
                                                                    "my_lib-0.2.dist-info/METADATA",
                                                                    "my_lib-0.2.dist-info/RECORD"});
  CHECK(pb::fs::read_file(staged / "python_modules/my_lib-0.2.dist-info/METADATA") ==
        "Metadata-Version: 2.1\nName: My.Lib\nVersion: 0.2\n");
  // RECORD lists the trimmed files too, as a wheel's does (the host names them when an import misses one).
  CHECK(pb::fs::read_file(staged / "python_modules/my_lib-0.2.dist-info/RECORD") ==
        "my_lib/__init__.py,,\nmy_lib/__init__.pyi,,\nmy_lib/tests/test_x.py,,\ntool.py,,\n"
        "my_lib-0.2.dist-info/METADATA,,\nmy_lib-0.2.dist-info/RECORD,,\n");
  CHECK(report.dropped.size() == 2);
  auto m = nlohmann::json::parse(pb::fs::read_file(staged / "bundle.json"));
  CHECK(m["packages"][0] ==
        nlohmann::json{
            {"name", "My.Lib"}, {"version", "0.2"}, {"origin", "source"}, {"wheel", nullptr}, {"sha256", nullptr}});
  stdfs::remove_all(staged);

  // A source package and a wheel writing the same module.
  WheelBuilder w;
  w.dist = "tool";
  w.add("tool.py", "");
  spec.inputs.push_back(box.wheel(w));
  CHECK(has(refused(box, spec),
            "python_modules/tool.py is written by both tool-1.0-py3-none-any.whl (entry "
            "'tool.py') and My.Lib (entry 'tool.py')"));
}

TEST_CASE("bundle.json: stable key order, sorted files, the digest, the snapshot") {
  Sandbox box;
  WheelBuilder b, a;
  b.dist = "beta";
  b.add("beta/__init__.py", "b\n").add("beta/z.py", "z\n");
  a.dist = "alpha";
  a.add("alpha/__init__.py", "a\n");
  auto spec = box.spec({box.wheel(b), box.wheel(a)});
  pb::vendor::Report report;
  auto staged = pb::vendor::assemble(spec, &report);
  auto text = pb::fs::read_file(staged / "bundle.json");
  CHECK(text.back() == '\n');
  CHECK(text.rfind("{\n  \"schema\": 1,\n  \"tool\": \"pybundle ", 0) == 0);
  auto m = nlohmann::ordered_json::parse(text);
  std::vector<std::string> keys;
  for (auto& [k, v] : m.items()) keys.push_back(k);
  CHECK(keys ==
        std::vector<std::string>{"schema", "tool", "target", "entry", "packages", "files", "digest", "snapshot"});
  CHECK(m["packages"][0]["name"] == "alpha");
  CHECK(m["packages"][1]["name"] == "beta");
  std::vector<std::string> paths;
  std::string lines;
  for (auto& f : m["files"]) {
    paths.push_back(f["path"]);
    CHECK(f["sha256"] == pb::sha256_file(staged / f["path"].get<std::string>()));
    CHECK(f["size"] == stdfs::file_size(staged / f["path"].get<std::string>()));
    lines += f["path"].get<std::string>() + "\t" + f["sha256"].get<std::string>() + "\n";
  }
  CHECK(std::is_sorted(paths.begin(), paths.end()));
  CHECK(paths.size() == listing(staged).size() - 1);  // everything but bundle.json
  CHECK(m["digest"] == pb::sha256_hex(lines));

  CHECK(report.hashed == paths.size());

  // The build adds the snapshot, then writes the manifest again without reading any file again.
  write(staged / "snapshot.bin.zst", "heap");
  report.manifest.snapshot.emplace().file = "snapshot.bin.zst";
  report.manifest.snapshot->size = 4;
  pb::vendor::write_manifest(staged, spec, report);
  auto again = nlohmann::json::parse(pb::fs::read_file(staged / "bundle.json"));
  CHECK(again["snapshot"]["file"] == "snapshot.bin.zst");
  CHECK(again["digest"] == m["digest"].get<std::string>());
  CHECK(again["files"].size() == m["files"].size());
  CHECK(report.hashed == paths.size());
  CHECK(pb::bundle::read(staged).text() == pb::fs::read_file(staged / "bundle.json"));
  stdfs::remove_all(staged);
}

TEST_CASE("default trimming, excludes and --keep on a wheel") {
  Sandbox box;
  WheelBuilder w;
  w.add("demo/__init__.py", "")
      .add("demo/__init__.pyi", "")
      .add("demo/__pycache__/__init__.cpython-311.pyc", "")
      .add("demo/mod.py", "")
      .add("demo/mod.pyc", "")
      .add("demo/tests/test_mod.py", "")
      .add("demo/docs/guide.rst", "")
      .add("demo/plotting/plot.py", "")
      .add("demo/data/table.csv", "");
  auto spec = box.spec({box.wheel(w)});
  pb::vendor::Report report;
  auto staged = pb::vendor::assemble(spec, &report);
  CHECK(listing(staged / "python_modules/demo") ==
        std::set<std::string>{"__init__.py", "mod.py", "plotting/plot.py", "data/table.csv"});
  std::map<std::string, std::string> why;
  for (const auto& d : report.dropped) why[d.entry] = d.reason;
  CHECK(why == std::map<std::string, std::string>{{"demo/__init__.pyi", "stubs"},
                                                  {"demo/__pycache__/__init__.cpython-311.pyc", "__pycache__"},
                                                  {"demo/mod.pyc", "bytecode"},
                                                  {"demo/tests/test_mod.py", "tests"},
                                                  {"demo/docs/guide.rst", "docs"}});
  stdfs::remove_all(staged);

  spec.options.exclude = {"demo/plotting", "*.csv"};
  spec.options.keep = {"**/tests/**"};
  staged = pb::vendor::assemble(spec);
  CHECK(listing(staged / "python_modules/demo") == std::set<std::string>{"__init__.py", "mod.py", "tests/test_mod.py"});
  stdfs::remove_all(staged);

  spec.options = {};
  spec.options.mtime = 0;
  spec.options.trim = false;
  staged = pb::vendor::assemble(spec);
  CHECK(listing(staged / "python_modules/demo").size() == 9);
  stdfs::remove_all(staged);
}

TEST_CASE("fixed modes and times; SOURCE_DATE_EPOCH") {
  Sandbox box;
  WheelBuilder w;
  w.add("demo/__init__.py", "");
  auto spec = box.spec({box.wheel(w)});
  spec.options.mtime.reset();
  ::setenv("SOURCE_DATE_EPOCH", "1234567890", 1);
  ::umask(077);
  auto staged = pb::vendor::assemble(spec);
  ::umask(022);
  ::unsetenv("SOURCE_DATE_EPOCH");
  for (auto& e : stdfs::recursive_directory_iterator(staged)) {
    struct stat st {};
    REQUIRE(::lstat(e.path().c_str(), &st) == 0);
    CHECK(st.st_mtime == 1234567890);
    CHECK((st.st_mode & 07777) == (S_ISDIR(st.st_mode) ? 0755 : 0644));
  }
  stdfs::remove_all(staged);

  ::setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
  CHECK_THROWS_AS(pb::vendor::assemble(spec), pb::Error);
  ::unsetenv("SOURCE_DATE_EPOCH");
}

TEST_CASE("archives: .tar.zst and .zip, byte-identical, sorted, fixed metadata") {
  Sandbox box;
  WheelBuilder w;
  w.add("demo/__init__.py", "x = 1\n").add("demo/b.py", std::string(100000, 'b')).add("demo/a.py", "a\n");
  auto spec = box.spec({box.wheel(w)});
  pb::fs::replace_dir(pb::vendor::assemble(spec), spec.out);
  pb::fs::write_file_atomic(spec.out / "import-times.json", "[]\n");  // measured by the snapshot: left out
  for (std::string ext : {".tar.zst", ".zip"}) {
    CAPTURE(ext);
    auto one = box.dir / ("one" + ext), two = box.dir / ("two" + ext);
    pb::vendor::write_archive(spec.out, one, 1700000000);
    ::setenv("TZ", "IST-5:30", 1);  // zip stores local times; the zone must not matter
    ::tzset();
    pb::vendor::write_archive(spec.out, two, 1700000000);
    ::unsetenv("TZ");
    ::tzset();
    CHECK(pb::fs::read_file(one) == pb::fs::read_file(two));

    archive* a = archive_read_new();
    archive_read_support_format_all(a);
    archive_read_support_filter_all(a);
    REQUIRE(archive_read_open_filename(a, one.c_str(), 1 << 16) == ARCHIVE_OK);
    archive_entry* e;
    std::vector<std::string> names;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
      names.push_back(archive_entry_pathname(e));
      CHECK(archive_entry_mtime(e) == 1700000000);
      CHECK(archive_entry_uid(e) == 0);
      CHECK((archive_entry_perm(e) & 0777) == (archive_entry_filetype(e) == AE_IFDIR ? 0755 : 0644));
      if (names.back() == "python_modules/demo/b.py") {
        std::string data(200000, '\0');
        CHECK(archive_read_data(a, data.data(), data.size()) == 100000);
      }
    }
    if (ext == ".tar.zst") CHECK(archive_filter_code(a, 0) == ARCHIVE_FILTER_ZSTD);
    archive_read_free(a);
    CHECK(std::is_sorted(names.begin(), names.end()));
    CHECK(names.front() == "bundle.json");
    CHECK(std::find(names.begin(), names.end(), "python_modules/demo/") <
          std::find(names.begin(), names.end(), "python_modules/demo/a.py"));
    CHECK(std::count(names.begin(), names.end(), "bundle.json") == 1);
    CHECK(std::count(names.begin(), names.end(), "import-times.json") == 0);
    CHECK(std::count(names.begin(), names.end(), "python_modules/demo/a.py") == 1);
  }
  CHECK_THROWS_AS(pb::vendor::write_archive(spec.out, box.dir / "x.tar.gz", 0), pb::Error);
  CHECK(!stdfs::exists(box.dir / "x.tar.gz"));
}

namespace {

// python_modules/ of a bundle holding the source directory `src` as distribution `name`, minus
// its generated .dist-info.
std::set<std::string> source_modules(const Sandbox& box, const stdfs::path& src, const std::string& name = "demo") {
  auto staged = pb::vendor::assemble(box.spec({Input{name, "1.0", "source", "", "", src}}));
  std::set<std::string> out;
  for (const auto& f : listing(staged / "python_modules"))
    if (f.find(".dist-info/") == std::string::npos) out.insert(f);
  stdfs::remove_all(staged);
  return out;
}

}  // namespace

TEST_CASE("source packages: the build backend's static configuration says where the modules are") {
  Sandbox box;
  auto d = box.dir / "src-pkg";
  write(d / "lib/x/__init__.py", "");
  write(d / "lib/x/data.json", "{}");
  write(d / "stray.py", "");  // what the old heuristic took from the root
  write(d / "pyproject.toml",
        "[build-system]\nbuild-backend = \"hatchling.build\"\n"
        "[tool.hatch.build.targets.wheel]\npackages = [\"lib/x\"]\n");
  CHECK(source_modules(box, d) == std::set<std::string>{"x/__init__.py", "x/data.json"});
  // only-include keeps the path, `sources` rewrites a prefix.
  write(d / "pyproject.toml", "[tool.hatch.build.targets.wheel]\nonly-include = [\"lib/x\"]\nsources = [\"lib\"]\n");
  CHECK(source_modules(box, d) == std::set<std::string>{"x/__init__.py", "x/data.json"});
  write(d / "pyproject.toml",
        "[tool.hatch.build.targets.wheel]\nonly-include = [\"lib/x\"]\nsources = {\"lib/x\" = \"y\"}\n");
  CHECK(source_modules(box, d) == std::set<std::string>{"y/__init__.py", "y/data.json"});

  // setuptools: named packages placed by package-dir, py-modules, subpackages with their parent.
  write(d / "code/pkg/__init__.py", "");
  write(d / "code/pkg/sub/__init__.py", "");
  write(d / "code/single.py", "");
  write(d / "code/other/__init__.py", "");
  write(d / "pyproject.toml",
        "[build-system]\nbuild-backend = \"setuptools.build_meta\"\n[tool.setuptools]\n"
        "packages = [\"pkg\", \"pkg.sub\"]\npy-modules = [\"single\"]\npackage-dir = {\"\" = \"code\"}\n");
  CHECK(source_modules(box, d) == std::set<std::string>{"pkg/__init__.py", "pkg/sub/__init__.py", "single.py"});
  write(d / "pyproject.toml", "[tool.setuptools]\npackage-dir = {\"x\" = \"lib/x\"}\npackages = [\"x\"]\n");
  CHECK(source_modules(box, d) == std::set<std::string>{"x/__init__.py", "x/data.json"});
  write(d / "pyproject.toml", "[tool.setuptools.packages.find]\nwhere = [\"code\"]\ninclude = [\"pk*\", \"single\"]\n");
  CHECK(source_modules(box, d) == std::set<std::string>{"pkg/__init__.py", "pkg/sub/__init__.py", "single.py"});
  write(d / "pyproject.toml", "[tool.setuptools]\npackages = {find = {where = [\"code\"], include = [\"other\"]}}\n");
  CHECK(source_modules(box, d) == std::set<std::string>{"other/__init__.py"});

  // flit: the module by name, at the root or under src/.
  write(d / "src/flitmod.py", "");
  write(d / "pyproject.toml",
        "[build-system]\nbuild-backend = \"flit_core.buildapi\"\n[tool.flit.module]\nname = \"flitmod\"\n");
  CHECK(source_modules(box, d) == std::set<std::string>{"flitmod.py"});

  // uv_build: module-name under module-root; by default the project's name under src/.
  write(d / "src/my_dist/__init__.py", "");
  write(d / "pyproject.toml", "[build-system]\nbuild-backend = \"uv_build\"\n");
  CHECK(source_modules(box, d, "My-Dist") == std::set<std::string>{"my_dist/__init__.py"});
  write(d / "pyproject.toml", "[tool.uv.build-backend]\nmodule-name = \"pkg\"\nmodule-root = \"code\"\n");
  CHECK(source_modules(box, d) == std::set<std::string>{"pkg/__init__.py", "pkg/sub/__init__.py"});

  // pdm-backend: includes relative to package-dir; package-dir alone takes its modules.
  write(d / "pyproject.toml", "[tool.pdm.build]\npackage-dir = \"code\"\nincludes = [\"code/pkg\"]\n");
  CHECK(source_modules(box, d) == std::set<std::string>{"pkg/__init__.py", "pkg/sub/__init__.py"});
  write(d / "pyproject.toml",
        "[build-system]\nbuild-backend = \"pdm.backend\"\n[tool.pdm.build]\npackage-dir = \"code\"\n");
  CHECK(source_modules(box, d) ==
        std::set<std::string>{"other/__init__.py", "pkg/__init__.py", "pkg/sub/__init__.py", "single.py"});
}

TEST_CASE("source packages: a configured path that is not there, or nothing found, says what to do") {
  Sandbox box;
  auto d = box.dir / "src-pkg";
  write(d / "lib/readme.txt", "");
  write(d / "pyproject.toml", "[tool.hatch.build.targets.wheel]\npackages = [\"lib/x\"]\n");
  auto problems = refused(box, box.spec({Input{"demo", "1.0", "source", "", "", d}}));
  CHECK_MESSAGE(has(problems, "demo: " + d.string() +
                                  "/pyproject.toml: [tool.hatch.build.targets.wheel] packages "
                                  "names 'lib/x', which is not in " +
                                  d.string()),
                joined(problems));
  // A backend configured by code (setup.py) and no modules where pybundle looks.
  write(d / "pyproject.toml", "[build-system]\nbuild-backend = \"setuptools.build_meta\"\n");
  write(d / "setup.py", "from setuptools import setup\nsetup(packages=['x'], package_dir={'': 'lib'})\n");
  problems = refused(box, box.spec({Input{"demo", "1.0", "source", "", "", d}}));
  CHECK_MESSAGE(has(problems, "demo: no Python modules or packages in " + d.string() +
                                  ", and pybundle does not run build backends: build the directory into a wheel first "
                                  "(`uv build --wheel " +
                                  d.string() + "`) and depend on the wheel"),
                joined(problems));
  write(d / "pyproject.toml", "[tool.pdm.build]\nincludes = [\"lib/*.py\"]\n");
  problems = refused(box, box.spec({Input{"demo", "1.0", "source", "", "", d}}));
  CHECK_MESSAGE(has(problems, "where its pdm-backend configuration in pyproject.toml puts them"), joined(problems));
  write(d / "pyproject.toml", "[tool.setuptools\n");
  problems = refused(box, box.spec({Input{"demo", "1.0", "source", "", "", d}}));
  CHECK_MESSAGE(has(problems, "demo: " + d.string() + "/pyproject.toml:1"), joined(problems));
}
