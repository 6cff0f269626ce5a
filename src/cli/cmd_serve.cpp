// pybundle serve BUNDLE: an HTTP server passing each request to the entry's on_fetch(request).
#include <algorithm>
#include <cstdlib>
#include <thread>

#include "cli/common.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"

namespace pb::cli {

namespace {

struct ServeArgs {
  std::string bundle;
  bool no_snapshot = false;
  bool allow_stale = false;
  std::string host = "127.0.0.1";
  int port = 8787;
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  uint64_t max_body = uint64_t(100) << 20;
  std::map<std::string, std::string> vars;
};

}  // namespace

void register_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd =
      app.add_subcommand("serve", "Serve a bundle over HTTP, one handler call (on_fetch or Default.fetch) per request");
  cmd->add_option("BUNDLE", a->bundle, "Bundle directory (holds bundle.json)")->required();
  cmd->add_option("--port", a->port, "Port (0 picks a free one)")->check(CLI::Range(0, 65535));
  cmd->add_option("--host", a->host, "Address to listen on");
  cmd->add_option("--workers", a->workers,
                  "Node processes serving requests, each restored from the snapshot with its own entropy "
                  "(default: the number of cores)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--max-body", a->max_body,
                  "Largest request body in bytes; larger ones are answered 413 (default 100 MiB)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-snapshot", a->no_snapshot, "Import the entry from scratch instead of restoring");
  cmd->add_flag("--allow-stale-snapshot", a->allow_stale,
                "Import from scratch when the snapshot does not match the bundle or runtime");
  add_var_option(*cmd, a->vars);
  cmd->fallthrough();  // global options (--format json, --cache-dir) may follow the bundle
  cmd->callback([a] {
    snapshot::ServeOptions o;
    o.run.bundle_dir = a->bundle;
    o.run.cache_dir = global().cache();
    o.run.use_snapshot = !a->no_snapshot;
    o.run.allow_stale = a->allow_stale;
    o.run.vars = a->vars;
    o.run.warn = [](const std::string& m) { warning(m); };
    o.host = a->host;
    o.port = a->port;
    o.workers = a->workers;
    o.max_body = a->max_body;
    o.json = global().format == Format::json;
    int rc = snapshot::serve_bundle(o);
    if (rc != 0 && rc != 128 + 2 && rc != 128 + 15)
      throw Error("the server stopped (exit " + std::to_string(rc) + ")", Exit::problems);
  });
}

}  // namespace pb::cli
