// pybundle run BUNDLE: restore the snapshot (or import from scratch) and call on_fetch once.
#include <cmath>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"

namespace pb::cli {

namespace {

std::string base64_decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned val = 0;
  int bits = -8;
  for (char c : in) {
    auto pos = chars.find(c);
    if (pos == std::string::npos) break;
    val = (val << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

std::string fmt_ms(const nlohmann::json& v) {
  if (!v.is_number()) return "?";
  double d = v.get<double>();
  char buf[32];
  std::snprintf(buf, sizeof buf, d < 100 ? "%.1f ms" : "%.0f ms", d);
  return buf;
}

}  // namespace

void run_run(const RunArgs& a) {
  snapshot::RunOptions o;
  o.bundle_dir = a.bundle;
  o.cache_dir = global().cache();
  o.use_snapshot = !a.no_snapshot;
  o.allow_stale = a.allow_stale;
  o.url = a.url;
  o.vars = a.vars;
  o.warn = [](const std::string& m) { warning(m); };
  auto answer = snapshot::run_bundle(o);
  bool ok = answer.value("ok", false);
  if (global().format == Format::json) {
    print_json(answer, -1);
    if (!ok) throw Error(answer.value("error", "run failed"), Exit::problems);
    return;
  }
  if (!ok) throw Error(answer.value("error", "run failed"), Exit::problems);
  const auto& resp = answer["response"];
  std::string body =
      resp.contains("body_base64") ? base64_decode(resp["body_base64"].get<std::string>()) : resp.value("body", "");
  std::cout << body;
  if (!body.empty() && body.back() != '\n' && !resp.contains("body_base64")) std::cout << '\n';
  std::cout.flush();
  const auto& t = answer["timings_ms"];
  info("status " + std::to_string(resp.value("status", 0)) + " · " +
       (answer.value("restored", false) ? "restored from the snapshot" : "imported without a snapshot") +
       " · runtime ready " + fmt_ms(t["runtime_ready"]) + " · handler " + fmt_ms(t["handler"]) + " · process " +
       fmt_ms(answer["process_ms"]));
}

}  // namespace pb::cli
