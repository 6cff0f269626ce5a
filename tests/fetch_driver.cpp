// Test driver for the download stage: reads {"requests": [...], "options": {...}} (JSON, from the
// file named by argv[1] or stdin), calls pb::fetch::fetch_all and prints the outcome as JSON.
// Progress events go to stderr in the style named by options.progress (none, plain, json, bar).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "fetch/fetch.hpp"
#include "fetch/progress.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using nlohmann::json;
namespace f = pb::fetch;

int main(int argc, char** argv) {
  json out;
  int code = 0;
  try {
    std::string text;
    if (argc > 1) {
      std::ifstream in(argv[1]);
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } else {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    json input = json::parse(text);
    std::vector<f::Request> requests;
    for (const auto& r : input.at("requests")) {
      f::Request req;
      req.url = r.at("url");
      req.sha256 = r.at("sha256");
      if (r.contains("size") && !r["size"].is_null()) req.size = r["size"].get<uint64_t>();
      req.label = r.value("label", "");
      requests.push_back(req);
    }
    json o = input.value("options", json::object());
    f::Options options;
    options.cache_dir = o.value("cache_dir", pb::fs::default_cache_dir().string());
    options.base_dir = o.value("base_dir", "");
    options.concurrency = o.value("concurrency", options.concurrency);
    options.offline = o.value("offline", false);
    options.retries = o.value("retries", options.retries);
    options.stall_timeout = o.value("stall_timeout", options.stall_timeout);
    options.connect_timeout = o.value("connect_timeout", options.connect_timeout);
    options.retry_base_delay = o.value("retry_base_delay", options.retry_base_delay);
    options.retry_max_delay = o.value("retry_max_delay", options.retry_max_delay);
    options.max_download = o.value("max_download", options.max_download);
    options.ca_file = o.value("ca_file", "");
    options.netrc_file = o.value("netrc_file", "");
    for (const auto& m : o.value("mirrors", json::array())) options.mirrors.push_back(f::parse_mirror(m));
    std::string style = o.value("progress", "none");
    if (style != "none")
      options.reporter = f::make_reporter(style == "json"  ? f::ProgressStyle::json
                                          : style == "bar" ? f::ProgressStyle::bar
                                                           : f::ProgressStyle::plain,
                                          stderr);
    auto files = f::fetch_all(requests, options);
    out = {{"ok", true}, {"files", json::array()}};
    for (const auto& p : files) out["files"].push_back(p.string());
  } catch (const pb::Errors& e) {
    code = static_cast<int>(e.code());
    out = {{"ok", false}, {"exit", code}, {"problems", e.problems()}};
  } catch (const pb::Error& e) {
    code = static_cast<int>(e.code());
    out = {{"ok", false}, {"exit", code}, {"problems", {e.what()}}};
  } catch (const std::exception& e) {
    code = static_cast<int>(pb::Exit::internal);
    out = {{"ok", false}, {"exit", code}, {"problems", {e.what()}}};
  }
  std::cout << out.dump(2) << "\n";
  return code;
}
