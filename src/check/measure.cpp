// The deploy size of a bundle: one tar stream of the whole directory, gzipped by libarchive
// into a sink that only counts bytes (nothing is written to disk).
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "check/bundle_checks.hpp"
#include "util/error.hpp"

namespace pb::check {

namespace stdfs = std::filesystem;

namespace {

struct Sink {
  uint64_t bytes = 0;
};

la_ssize_t count(struct archive*, void* data, const void*, size_t n) {
  static_cast<Sink*>(data)->bytes += n;
  return static_cast<la_ssize_t>(n);
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

struct Entry {
  std::string rel;  // "dir/" for directories
  stdfs::file_type type;
  uint64_t size = 0;
};

// One archive writer into a counting sink; a second one without gzip gives the raw tar size.
class Writer {
 public:
  explicit Writer(bool gzip) : a_(archive_write_new()) {
    if (!a_) throw Error("libarchive: out of memory", Exit::internal);
    ok(archive_write_set_format_pax_restricted(a_));
    if (gzip) {
      ok(archive_write_add_filter_gzip(a_));
      // No name or time in the gzip header: the size depends on the contents only.
      archive_write_set_filter_option(a_, "gzip", "timestamp", nullptr);
    }
    ok(archive_write_set_bytes_in_last_block(a_, 1));
    ok(archive_write_open2(a_, &sink_, nullptr, &count, nullptr, nullptr));
  }
  ~Writer() { archive_write_free(a_); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // The entry's header; for a regular file, `data` must follow with exactly e.size bytes.
  void header(const stdfs::path& root, const Entry& e) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), &archive_entry_free);
    archive_entry_set_pathname(entry.get(), e.rel.c_str());
    archive_entry_set_mtime(entry.get(), 0, 0);
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    if (e.type == stdfs::file_type::directory) {
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
      archive_entry_set_perm(entry.get(), 0755);
    } else if (e.type == stdfs::file_type::symlink) {
      std::error_code ec;
      auto target = stdfs::read_symlink(root / e.rel, ec);
      if (ec) throw Error("cannot read the link " + (root / e.rel).string() + ": " + ec.message(), Exit::io);
      archive_entry_set_filetype(entry.get(), AE_IFLNK);
      archive_entry_set_perm(entry.get(), 0777);
      archive_entry_set_symlink(entry.get(), target.c_str());
    } else {
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_perm(entry.get(), 0644);
      archive_entry_set_size(entry.get(), static_cast<la_int64_t>(e.size));
    }
    ok(archive_write_header(a_, entry.get()));
  }

  void data(const char* bytes, size_t n) {
    if (archive_write_data(a_, bytes, n) < 0) ok(ARCHIVE_FATAL);
  }

  uint64_t finish() {
    ok(archive_write_close(a_));
    return sink_.bytes;
  }

 private:
  void ok(int rc) {
    if (rc < ARCHIVE_WARN) throw Error(std::string("libarchive: ") + archive_error_string(a_), Exit::internal);
  }
  struct archive* a_;
  Sink sink_;
};

}  // namespace

Measured measure(const stdfs::path& bundle) {
  std::vector<Entry> entries;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(bundle, ec), end; !ec && it != end; it.increment(ec)) {
    Entry e;
    e.type = it->symlink_status(ec).type();
    if (ec) break;
    e.rel = it->path().lexically_relative(bundle).generic_string();
    if (e.type == stdfs::file_type::directory) {
      e.rel += "/";
    } else if (e.type == stdfs::file_type::regular) {
      e.size = it->file_size(ec);
      if (ec) break;
    } else if (e.type != stdfs::file_type::symlink) {
      continue;  // devices and FIFOs are never deployed; `files` reports them
    }
    entries.push_back(std::move(e));
  }
  if (ec) throw Error("cannot list " + bundle.string() + ": " + ec.message(), Exit::io);
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.rel < b.rel; });

  Measured m;
  Writer gz(true), tar(false);
  std::vector<char> buf(1 << 17);
  for (const auto& e : entries) {
    gz.header(bundle, e);
    tar.header(bundle, e);
    if (e.type != stdfs::file_type::regular) continue;
    ++m.files;
    m.bytes += e.size;
    auto path = bundle / e.rel;
    Fd fd{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
    if (fd.fd < 0) throw Error("cannot read " + path.string() + ": " + std::strerror(errno), Exit::io);
    uint64_t left = e.size;  // the header promised this many bytes; a file growing meanwhile is cut
    while (left > 0) {
      ssize_t n = ::read(fd.fd, buf.data(), std::min<uint64_t>(buf.size(), left));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw Error(
            "cannot read " + path.string() + ": " + (n == 0 ? "it shrank while being read" : std::strerror(errno)),
            Exit::io);
      gz.data(buf.data(), static_cast<size_t>(n));
      tar.data(buf.data(), static_cast<size_t>(n));
      left -= static_cast<uint64_t>(n);
    }
  }
  m.gzip_bytes = gz.finish();
  m.tar_bytes = tar.finish();
  return m;
}

}  // namespace pb::check
