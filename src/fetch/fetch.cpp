#include "fetch/fetch.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <map>
#include <memory>

#include "fetch/cache.hpp"
#include "fetch/engine.hpp"
#include "fetch/progress.hpp"
#include "fetch/source.hpp"
#include "fetch/transport.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pb::fetch {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string message(const detail::Item& item, const std::string& cause) {
  std::string head = item.label.empty() ? "" : "package '" + item.label + "': ";
  return head + item.shown_url + ": " + cause;
}

}  // namespace

std::vector<std::filesystem::path> fetch_all(const std::vector<Request>& requests, const Options& options) {
  detail::init_curl();
  if (options.cache_dir.empty()) throw Error("internal: fetch_all needs a cache directory", Exit::internal);
  Cache cache(options.cache_dir);

  // One item per distinct file; requests for the same hash share it.
  std::vector<detail::Item> items;
  std::vector<size_t> item_of(requests.size());
  std::map<std::string, size_t> by_hash;
  std::vector<std::string> invalid(requests.size());
  items.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    std::string sha = lower(r.sha256);
    if (!is_sha256_hex(sha)) {
      std::string head = r.label.empty() ? "" : "package '" + r.label + "': ";
      invalid[i] = head + redact_url(r.url) + ": expected sha256 '" + r.sha256 + "' is not 64 hex digits";
      item_of[i] = SIZE_MAX;
      continue;
    }
    if (auto it = by_hash.find(sha); it != by_hash.end()) {
      item_of[i] = it->second;
      continue;
    }
    detail::Item item;
    item.label = r.label;
    item.sha256 = sha;
    item.size = r.size;
    std::string url = apply_mirrors(r.url, options.mirrors);
    item.source = classify(url, options.base_dir);
    item.shown_url = redact_url(item.source.kind == Source::Kind::local && url.find("://") == std::string::npos
                                    ? item.source.path.string()
                                    : url);
    if (item.source.kind == Source::Kind::unsupported) {
      item.error = "unsupported URL scheme (use https://, http://, file:// or a path)";
      item.problem = true;
    }
    by_hash.emplace(sha, items.size());
    item_of[i] = items.size();
    items.push_back(std::move(item));
  }

  cache.ensure();
  Progress progress(options.reporter);
  std::vector<detail::Item*> todo;
  size_t missing_offline = 0;
  std::vector<std::string> evicted;
  uint64_t bytes_total = 0;
  for (auto& item : items) {
    if (!item.error.empty()) continue;
    std::string bad;
    auto entry = cache.verify(item.sha256, &bad);
    if (entry == Cache::Entry::good) {
      cache.touch(item.sha256);
      item.done = item.cached = true;
      continue;
    }
    if (options.offline && item.source.kind == Source::Kind::remote) {
      if (entry == Cache::Entry::evicted) {
        item.error = bad + "; it was removed, and --offline forbids downloading it again";
        item.problem = true;
        continue;
      }
      item.error = "not in the cache, and --offline forbids downloading it";
      ++missing_offline;
      continue;
    }
    if (entry == Cache::Entry::evicted) evicted.push_back(bad + "; it was removed and is fetched again");
    todo.push_back(&item);
    bytes_total += item.size.value_or(0);
  }
  if (options.warn)
    for (const auto& w : evicted) options.warn(w);
  progress.start(items.size(), bytes_total);
  for (auto& item : items) {
    if (item.cached) {
      progress.file_done(true);
      progress.emit({.kind = Event::Kind::cached, .label = item.label});
    } else if (!item.error.empty()) {
      progress.file_done(false, true);
      progress.emit({.kind = Event::Kind::failed, .label = item.label, .url = item.shown_url, .message = item.error});
    }
  }
  if (!todo.empty()) detail::run(todo, cache, options, progress);
  progress.finish();

  bool any_problem = false;
  std::vector<std::string> problems;
  std::vector<bool> reported(items.size(), false);
  std::vector<std::filesystem::path> out;
  out.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    if (item_of[i] == SIZE_MAX) {
      problems.push_back(invalid[i]);
      any_problem = true;
      continue;
    }
    auto& item = items[item_of[i]];
    if (item.done) {
      out.push_back(cache.entry(item.sha256));
      continue;
    }
    if (reported[item_of[i]]) continue;
    reported[item_of[i]] = true;
    problems.push_back(message(item, item.error));
    any_problem = any_problem || item.problem;
  }
  if (missing_offline > 0)
    problems.push_back(std::to_string(missing_offline) + " file" + (missing_offline == 1 ? " is" : "s are") +
                       " missing from the cache at " + cache.root().string() +
                       "; run once without --offline to fill it");
  if (!problems.empty()) throw Errors(std::move(problems), any_problem ? Exit::problems : Exit::io);
  return out;
}

std::optional<std::string> get(const std::string& url, const Options& options, size_t max_bytes) {
  auto source = classify(apply_mirrors(url, options.mirrors), options.base_dir);
  if (options.offline || source.kind != Source::Kind::remote) return std::nullopt;
  detail::init_curl();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), &curl_easy_cleanup);
  if (!easy) return std::nullopt;
  struct Body {
    std::string text;
    size_t max;
  } body{{}, max_bytes};
  auto on_body = +[](char* data, size_t size, size_t n, void* user) -> size_t {
    auto* b = static_cast<Body*>(user);
    if (b->text.size() + size * n > b->max) return 0;  // aborts the transfer
    b->text.append(data, size * n);
    return size * n;
  };
  CURL* e = easy.get();
  detail::Transport(options).apply(e);
  curl_easy_setopt(e, CURLOPT_URL, source.url.c_str());
  curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
  // A stall ends it as it ends a download: no byte for stall_timeout seconds.
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(std::max(1.0, options.stall_timeout)));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
  if (curl_easy_perform(e) != CURLE_OK) return std::nullopt;
  return std::move(body.text);
}

}  // namespace pb::fetch
