// Small helpers shared by the uv.lock and pylock.toml readers: typed access with file:line errors.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "util/error.hpp"

namespace pb::lock::detail {

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  static long line_of(const toml::node* n) { return n ? static_cast<long>(n->source().begin.line) : 0; }
  // The line in the file of a node parsed from a piece of it that starts after `line_base` lines.
  long line(const toml::node* n) const { return n ? line_base_ + line_of(n) : 0; }
  void set_line_base(long base) { line_base_ = base; }
  void fail(const toml::node* at, const std::string& message) {
    problems_.push_back(file_error(file_, line(at), message).what());
  }
  void raise() const {
    if (problems_.size() == 1) throw Error(problems_.front(), Exit::usage);
    if (!problems_.empty()) throw Errors(problems_, Exit::usage);
  }
  const std::string& file() const { return file_; }

  std::optional<std::string> str(const toml::table& t, std::string_view key, const std::string& what) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (const auto* s = n->as_string()) return s->get();
    fail(n, what + std::string(key) + " must be a string");
    return std::nullopt;
  }
  std::optional<int64_t> integer(const toml::table& t, std::string_view key, const std::string& what) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (const auto* i = n->as_integer()) return i->get();
    fail(n, what + std::string(key) + " must be an integer");
    return std::nullopt;
  }
  std::vector<std::string> strings(const toml::table& t, std::string_view key, const std::string& what) {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) {
      fail(n, what + std::string(key) + " must be an array of strings");
      return out;
    }
    out.reserve(a->size());
    for (const auto& e : *a) {
      if (const auto* s = e.as_string()) out.push_back(s->get());
      else fail(&e, what + std::string(key) + " must contain only strings");
    }
    return out;
  }
  // An array of tables (or nothing); complains about anything else.
  const toml::array* tables(const toml::table& t, std::string_view key, const std::string& what) {
    const toml::node* n = t.get(key);
    if (!n) return nullptr;
    const toml::array* a = n->as_array();
    if (!a || !a->is_array_of_tables()) {
      if (a && a->empty()) return a;
      fail(n, what + std::string(key) + " must be an array of tables");
      return nullptr;
    }
    return a;
  }

 private:
  std::string file_;
  long line_base_ = 0;
  std::vector<std::string> problems_;
};

// The last segment of a local path (URLs go through wheel::filename_from_url, which decodes).
std::string file_name_of(std::string_view url_or_path);

}  // namespace pb::lock::detail
