// pybundle serve BUNDLE: an HTTP server passing each request to the entry's on_fetch(request).
#include <string>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"

namespace pb::cli {

void run_serve(const ServeArgs& a) {
  snapshot::ServeOptions o;
  o.run.bundle_dir = a.bundle;
  o.run.cache_dir = global().cache();
  o.run.use_snapshot = !a.no_snapshot;
  o.run.allow_stale = a.allow_stale;
  o.run.vars = a.vars;
  o.run.warn = [](const std::string& m) { warning(m); };
  o.host = a.host;
  o.port = a.port;
  o.workers = a.workers;
  o.max_body = a.max_body;
  o.json = global().format == Format::json;
  int rc = snapshot::serve_bundle(o);
  if (rc == 0 || rc == 128 + 2 || rc == 128 + 15) return;
  // Asked to stop, it ends as above unless a handler kept it busy and it was killed.
  if (interrupt::stop_requested())
    throw Error(
        "the server was killed: a handler was still busy after the stop signal's grace period "
        "(or at a second signal)",
        Exit::problems);
  throw Error("the server stopped (exit " + std::to_string(rc) + ")", Exit::problems);
}

}  // namespace pb::cli
