// --archive: a bundle directory as .tar.zst or .zip, byte-identical for the same bundle.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "util/error.hpp"
#include "vendor/vendor.hpp"

namespace pb::vendor {

namespace stdfs = std::filesystem;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Zip stores DOS times in local time; libarchive converts with localtime_r. Writing them in
// UTC keeps the archive independent of the machine's time zone.
class UtcZone {
 public:
  UtcZone() {
    if (const char* tz = std::getenv("TZ")) saved_ = tz;
    ::setenv("TZ", "UTC0", 1);
    ::tzset();
  }
  ~UtcZone() {
    if (saved_) ::setenv("TZ", saved_->c_str(), 1);
    else ::unsetenv("TZ");
    ::tzset();
  }
  UtcZone(const UtcZone&) = delete;
  UtcZone& operator=(const UtcZone&) = delete;

 private:
  std::optional<std::string> saved_;
};

struct Item {
  std::string rel;
  bool dir;
};

}  // namespace

void check_archive_name(const stdfs::path& file) {
  const auto name = file.filename().string();
  if (!ends_with(name, ".zip") && !ends_with(name, ".tar.zst"))
    throw Error("--archive " + file.string() + ": the name must end in .tar.zst or .zip", Exit::usage);
  // Where it goes is checked with the name, so a build does not fail only after all its work.
  std::error_code ec;
  if (stdfs::is_directory(file, ec))
    throw Error("--archive " + file.string() + ": is a directory; name the archive file", Exit::usage);
  auto dir = file.has_parent_path() ? file.parent_path() : stdfs::path(".");
  if (!stdfs::is_directory(dir, ec))
    throw Error("--archive " + file.string() + ": its directory " + dir.string() + " does not exist", Exit::usage);
}

void write_archive(const stdfs::path& bundle_dir, const stdfs::path& file, int64_t mtime) {
  check_archive_name(file);
  const bool zip = ends_with(file.filename().string(), ".zip");

  std::vector<Item> items;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(bundle_dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto type = it->symlink_status(ec).type();
    auto rel = it->path().lexically_relative(bundle_dir).generic_string();
    if (rel == "import-times.json") continue;  // measured, not built (snapshot::kImportTimesFile)
    if (type != stdfs::file_type::directory && type != stdfs::file_type::regular)
      throw Error("bundle " + bundle_dir.string() + ": '" + rel + "' is not a regular file or directory",
                  Exit::internal);
    bool dir = type == stdfs::file_type::directory;
    items.push_back({dir ? rel + "/" : rel, dir});
  }
  if (ec) throw Error("cannot list " + bundle_dir.string() + ": " + ec.message(), Exit::io);
  // Sorted by archive name ("pkg/" before "pkg/x", and after "pkg-1.0.dist-info/").
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.rel < b.rel; });

  std::optional<UtcZone> utc;
  if (zip) utc.emplace();
  auto tmp = file;
  tmp += ".tmp-" + std::to_string(::getpid());
  archive* a = archive_write_new();
  auto fail = [&](const std::string& what) {
    std::string msg = "cannot write " + file.string() + ": " + what;
    archive_write_free(a);
    ::unlink(tmp.c_str());
    return Error(msg, Exit::io);
  };
  if (zip) {
    archive_write_set_format_zip(a);
    archive_write_set_format_option(a, "zip", "compression", "deflate");
  } else {
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_zstd(a);
    // Level 9: most of level 19's ratio for a tenth of the time and a third of the memory.
    archive_write_set_filter_option(a, "zstd", "compression-level", "9");
  }
  archive_write_set_bytes_in_last_block(a, 1);  // no padding after the compressed stream
  auto la_error = [&] {
    const char* e = archive_error_string(a);
    return std::string(e ? e : "libarchive error");
  };
  if (archive_write_open_filename(a, tmp.c_str()) != ARCHIVE_OK) throw fail(la_error());

  archive_entry* entry = archive_entry_new();
  std::vector<char> buf(1 << 16);
  for (const auto& item : items) {
    archive_entry_clear(entry);
    archive_entry_set_pathname_utf8(entry, item.rel.c_str());
    archive_entry_set_filetype(entry, item.dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(entry, item.dir ? 0755 : 0644);
    archive_entry_set_uid(entry, 0);
    archive_entry_set_gid(entry, 0);
    archive_entry_set_mtime(entry, static_cast<time_t>(mtime), 0);
    int fd = -1;
    if (!item.dir) {
      auto path = bundle_dir / item.rel;
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        archive_entry_free(entry);
        throw fail("cannot read " + path.string() + ": " + std::strerror(errno));
      }
      archive_entry_set_size(entry, static_cast<la_int64_t>(stdfs::file_size(path)));
    } else {
      archive_entry_set_size(entry, 0);
    }
    if (archive_write_header(a, entry) != ARCHIVE_OK) {
      std::string err = la_error();
      if (fd >= 0) ::close(fd);
      archive_entry_free(entry);
      throw fail(err);
    }
    while (fd >= 0) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) break;
      if (n < 0 || archive_write_data(a, buf.data(), static_cast<size_t>(n)) != n) {
        std::string err = n < 0 ? std::string(std::strerror(errno)) : la_error();
        ::close(fd);
        archive_entry_free(entry);
        throw fail(err);
      }
    }
    if (fd >= 0) ::close(fd);
  }
  archive_entry_free(entry);
  if (archive_write_close(a) != ARCHIVE_OK) throw fail(la_error());
  archive_write_free(a);
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw Error("cannot rename into " + file.string() + ": " + err, Exit::io);
  }
}

}  // namespace pb::vendor
