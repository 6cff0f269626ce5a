// The command line: the global options and every command's flags (CLI11), parsed into the options
// of cli/commands.hpp; each command's callback runs it. The only file that includes CLI11, so a
// change to a command's logic does not recompile it.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "project/project.hpp"
#include "runtime/host.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "vendor/wrangler.hpp"

namespace pb::cli {

namespace {

// --format with these names only (no enum numbers in --help, none accepted), into global().format.
CLI::Option* add_format_option(CLI::App& app, const std::vector<std::string>& names, const std::string& help) {
  auto* opt = app.add_option_function<std::string>(
      "--format",
      [](const std::string& v) {
        global().format = v == "json" ? Format::json : v == "github" ? Format::github : Format::human;
      },
      help);
  opt->check(CLI::IsMember(names))->type_name("FORMAT")->trigger_on_parse();  // set before the command starts
  return opt;
}

// A command without GitHub annotations refuses a global --format github (usage error).
void refuse_github_format(CLI::App& cmd) {
  // The global --format comes before the command's name, so it is set when the command starts.
  cmd.preparse_callback([&cmd](size_t) {
    if (global().format == Format::github)
      throw CLI::ValidationError(
          "--format", "github annotations are made only by `check`; `" + cmd.get_name() + "` prints human or json");
  });
}

// --sandbox on build, check and snapshot: the project's code runs under Node's permission model.
void add_sandbox_flag(CLI::App& cmd) {
  cmd.add_flag_callback(
      "--sandbox", [] { runtime::set_sandbox(true); },
      "Run the project's code (snapshot, smoke, check's imports) under Node's permission model: "
      "it reads only the bundle and the runtime, writes only the bundle, starts no processes");
}

// serve --host: an IPv4 or IPv6 address or a host name. A malformed one is a usage error here, not
// a failed bind later; "[::1]" (as in a URL) is taken as ::1.
std::string check_host(std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return "empty address";
  unsigned char addr[16];
  if (host.find(':') != std::string::npos)
    return inet_pton(AF_INET6, host.c_str(), addr) == 1 ? "" : "'" + host + "' is not an IPv6 address";
  if (host.find_first_not_of("0123456789.") == std::string::npos)
    return inet_pton(AF_INET, host.c_str(), addr) == 1 ? "" : "'" + host + "' is not an IPv4 address";
  bool ok = host.size() <= 253;
  size_t label = 0;
  for (size_t i = 0; ok && i <= host.size(); ++i) {
    char c = i < host.size() ? host[i] : '.';
    if (c == '.') {
      ok = label > 0 && label <= 63 && host[i - 1] != '-' && host[i - label] != '-';
      label = 0;
    } else {
      ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-';
      ++label;
    }
  }
  return ok ? "" : "'" + host + "' is neither an IP address nor a host name";
}

// --var K=V (repeatable) on run and serve.
void add_var_option(CLI::App& cmd, Vars& vars) {
  cmd.add_option_function<std::vector<std::string>>(
         "--var",
         [&vars](const std::vector<std::string>& given) {
           for (const auto& kv : given) {
             auto eq = kv.find('=');
             if (eq == 0 || eq == std::string::npos)
               throw CLI::ValidationError("--var", "'" + kv + "' is not NAME=VALUE");
             if (!fs::valid_utf8(kv))  // the vars go to the host as JSON, which holds only UTF-8
               throw CLI::ValidationError("--var", kv.substr(0, eq) + ": not valid UTF-8");
             vars[kv.substr(0, eq)] = kv.substr(eq + 1);
           }
         },
         "Set a worker var (self.env.NAME) for this run, over [tool.pybundle] vars (NAME=VALUE, repeatable)")
      ->type_name("NAME=VALUE");
}

// The planning flags of plan, why, check and build: --target, --runtime, --lock, --locked/--frozen,
// --fetch-metadata and uv's selection flags.
void add_plan_options(CLI::App& cmd, build::PlanOptions& o) {
  o.default_target = default_target();
  const char* env = std::getenv("PYBUNDLE_TARGET");
  o.env_target = env ? env : "";
  cmd.add_option("--target", o.target,
                 "Pyodide release, e.g. pyodide@0.29.3 (default: $PYBUNDLE_TARGET, else "
                 "[tool.pybundle] target, else " +
                     default_target() + ")");
  cmd.add_option("--runtime", o.runtime, "A Pyodide runtime directory (with pyodide-lock.json) for the target")
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--lock", o.lock_file, "Lock file to read (default: uv.lock, else pylock.toml, in DIR)");
  auto* locked = cmd.add_flag("--locked", o.locked, "Fail if the lock does not match pyproject.toml (the default)");
  cmd.add_flag("--frozen", o.frozen, "Use the lock as it is, without checking it against pyproject.toml")
      ->excludes(locked);
  cmd.add_flag("--allow-substitutes", o.selection.allow_substitutes,
               "Use Pyodide's build of another version than the locked one even when a dependent rejects it "
               "or cannot be checked");
  cmd.add_flag("--fetch-metadata", o.fetch_metadata,
               "Download dependents' METADATA (PEP 658, else the wheel) to check Pyodide's versions against them");
  add_format_option(cmd, {"human", "json"}, "Output: human or json");
  auto& s = o.selection;
  auto* package = cmd.add_option("--package", s.packages, "Plan for this workspace member (repeatable)");
  cmd.add_flag("--all-packages", s.all_packages, "Plan for every workspace member")->excludes(package);
  auto* extra = cmd.add_option("--extra", s.extras, "Include an optional dependency group (repeatable)");
  cmd.add_flag("--all-extras", s.all_extras, "Include every extra")->excludes(extra);
  auto* group = cmd.add_option("--group", s.groups, "Include a dependency group (repeatable)");
  auto* only =
      cmd.add_option("--only-group", s.only_groups, "Only this dependency group, not the project's dependencies");
  cmd.add_flag("--all-groups", s.all_groups, "Include every dependency group")->excludes(group)->excludes(only);
  auto* no_dev = cmd.add_flag("--no-dev", s.no_dev, "Leave out the dev group (the default)");
  cmd.add_flag("--dev", o.dev, "Include the dev group (left out of bundles by default, as `uv sync --no-dev`)")
      ->excludes(no_dev);
  cmd.add_flag("--no-default-groups", s.no_default_groups, "Leave out the default groups ([tool.uv] default-groups)");
  cmd.add_option("--with-stdlib", s.stdlib,
                 "Add an unvendored stdlib module Pyodide ships separately (ssl, sqlite3, …)");
}

void add_build(CLI::App& app) {
  static BuildOptions o;
  auto* cmd = app.add_subcommand("build", "Plan, fetch, vendor and snapshot a project into a bundle");
  auto& r = o.request;
  cmd->add_option("DIR", r.plan.dir, "Project directory (default: .)");
  add_plan_options(*cmd, r.plan);
  cmd->add_option("-o,--out", r.out, "Bundle directory (default: PROJECT_DIR/dist)");
  cmd->add_flag("--no-snapshot", o.no_snapshot, "Do not make a memory snapshot");
  cmd->add_option("--hash-seed", r.hash_seed,
                  "PYTHONHASHSEED while the snapshot imports (default: from python_modules/)")
      ->check(CLI::Range(uint32_t{0}, uint32_t{4294967295u}));
  add_sandbox_flag(*cmd);
  cmd->add_flag("--no-smoke", o.no_smoke,
                "Do not import the entry and the trimmed bundle's modules in Pyodide (runs even with "
                "--no-snapshot; an entry that does not import, or a trim that breaks an import, fails the build)");
  cmd->add_flag("--offline", r.plan.offline,
                "Use only the cache; name every file that is missing (and a missing runtime: npm is not started)");
  cmd->add_option("-j,--concurrency", r.concurrency, "Parallel downloads (default 16)")->check(CLI::Range(1, 256));
  cmd->add_option("--max-download", r.max_download,
                  "Largest file fetched when the lock gives no size, in bytes (default 1 GiB)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--mirror", r.mirrors, "Rewrite URLs starting with FROM to start with TO (FROM=TO, repeatable)");
  cmd->add_option("--ca-file", r.ca_file, "CA certificates for HTTPS (default $SSL_CERT_FILE, else the system's)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--netrc-file", r.netrc_file, "Credentials file (default $NETRC, else ~/.netrc)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--keep", r.keep, "Glob of files never trimmed (repeatable)");
  cmd->add_flag("--no-trim", o.no_trim, "Keep tests, docs, stubs and caches inside packages");
  cmd->add_option("--archive", r.archive, "Also write the bundle as FILE (.tar.zst or .zip)")
      ->check(CLI::Validator([](std::string& v) { return v.empty() ? std::string("empty file name") : ""; }, "FILE"));
  cmd->add_flag("--compile", o.compile,
                "Precompile modules to .pyc in the target runtime; --compile=drop-sources also removes the "
                "sources of python_modules/ (app/ keeps them)")
      ->option_text("[=keep-sources|drop-sources]");
  cmd->add_flag("--minimize", r.minimize,
                "Keep only the files of python_modules/ that importing the entry and one request use (plus "
                "package metadata and --keep globs), then prove the result in a fresh runtime");
  cmd->footer(
      "Examples:\n"
      "  pybundle build                       # ./pyproject.toml + uv.lock -> ./dist\n"
      "  pybundle build app --out build/app --target pyodide@0.27.7\n"
      "  pybundle build --no-snapshot --archive app.tar.zst\n"
      "  pybundle build --minimize --compile=drop-sources   # smallest bundle, proved to work");
  cmd->callback([] { run_build(o); });
}

void add_cache(CLI::App& app) {
  auto* cache = app.add_subcommand("cache", "Show, clean or prune the download cache");
  cache->require_subcommand(1);
  cache->add_subcommand("dir", "Print the cache directory")->callback(run_cache_dir);
  cache->add_subcommand("clean", "Remove what pybundle keeps in the cache")->callback(run_cache_clean);
  auto* prune = cache->add_subcommand("prune", "Remove downloads not used for a number of days");
  static int days = 30;
  prune->add_option("--days", days, "Keep files used within this many days")
      ->default_val(30)
      ->check(CLI::Range(0, 36500));
  prune->callback([] { run_cache_prune(days); });
}

void add_plan(CLI::App& app) {
  auto* cmd = app.add_subcommand("plan", "Show what the target needs from the lock, and which file of each package");
  auto options = std::make_shared<build::PlanOptions>();
  cmd->add_option("DIR", options->dir, "Project directory (default: .)");
  add_plan_options(*cmd, *options);
  cmd->callback([options] { run_plan(*options); });
}

void add_why(CLI::App& app) {
  auto* cmd = app.add_subcommand("why", "Show why a package is needed: its dependency paths from the project");
  auto options = std::make_shared<build::PlanOptions>();
  auto name = std::make_shared<std::string>();
  cmd->add_option("PKG", *name, "Package name")
      ->required()
      ->check(
          [](const std::string& n) {
            // PEP 508 names: letters, digits, '.', '-', '_', starting and ending with a letter or digit.
            auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
            bool ok = !n.empty() && alnum(n.front()) && alnum(n.back()) && std::all_of(n.begin(), n.end(), [&](char c) {
              return alnum(c) || c == '.' || c == '-' || c == '_';
            });
            return ok ? "" : "'" + n + "' is not a package name (such as jinja2)";
          },
          "NAME");
  cmd->add_option("DIR", options->dir, "Project directory (default: .)");
  add_plan_options(*cmd, *options);
  cmd->callback([options, name] { run_why(*name, *options); });
}

void add_run(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd =
      app.add_subcommand("run", "Restore a bundle's snapshot and call its handler (on_fetch or Default.fetch) once");
  cmd->add_option("BUNDLE", a->bundle, "Bundle directory (holds bundle.json)")->required();
  cmd->add_flag("--no-snapshot", a->no_snapshot, "Import the entry from scratch instead of restoring");
  cmd->add_flag("--allow-stale-snapshot", a->allow_stale,
                "Import from scratch when the snapshot does not match the bundle or runtime");
  cmd->fallthrough();  // global options (--format json, --cache-dir) may follow the bundle
  cmd->add_option("--url", a->url,
                  "URL of the GET request passed to the handler (a path such as /hello?name=ada is taken as "
                  "http://localhost/hello?name=ada)")
      ->check(
          [](const std::string& u) {
            // As on the platform and in serve, the handler sees an absolute http(s) URL.
            return u.starts_with("/") || u.starts_with("http://") || u.starts_with("https://")
                       ? ""
                       : "'" + u + "' is neither a path (/hello?name=ada) nor an http:// or https:// URL";
          },
          "URL");
  add_var_option(*cmd, a->vars);
  cmd->callback([a] { run_run(*a); });
}

void add_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd =
      app.add_subcommand("serve", "Serve a bundle over HTTP, one handler call (on_fetch or Default.fetch) per request");
  cmd->add_option("BUNDLE", a->bundle, "Bundle directory (holds bundle.json)")->required();
  cmd->add_option("--port", a->port, "Port (0 picks a free one)")->check(CLI::Range(0, 65535));
  cmd->add_option("--host", a->host, "Address to listen on: IPv4, IPv6 or a host name (default 127.0.0.1)")
      ->transform(CLI::Validator(check_host, "ADDR"));
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
  cmd->callback([a] { run_serve(*a); });
}

void add_snapshot(CLI::App& app) {
  auto a = std::make_shared<SnapshotArgs>();
  auto* cmd = app.add_subcommand("snapshot", "(Re)make the memory snapshot of a bundle directory");
  cmd->add_option("BUNDLE", a->bundle, "Bundle directory (holds bundle.json)")->required();
  cmd->add_option("--preimport", a->preimport,
                  "Extra module to import before the snapshot (repeatable; default: the build's, from bundle.json)")
      ->check(
          [](const std::string& m) {
            return project::is_module_name(m) ? "" : "'" + m + "' is not a module name (such as \"jinja2.ext\")";
          },
          "MODULE");
  cmd->add_option("--level", a->level, "zstd compression level")->check(CLI::Range(1, 22));
  cmd->add_option("--hash-seed", a->hash_seed,
                  "PYTHONHASHSEED while importing (default: the build's, from bundle.json, else from python_modules/)")
      ->check(CLI::Range(uint32_t{0}, uint32_t{4294967295u}));
  add_sandbox_flag(*cmd);
  cmd->callback([a] { run_snapshot(*a); });
}

void add_check(CLI::App& app) {
  auto* cmd = app.add_subcommand("check", "Check a project, or a built bundle, before deploying it");
  auto o = std::make_shared<CheckOptions>();
  auto* dir = cmd->add_option("DIR", o->plan.dir, "Project directory (default: .)");
  cmd->add_option("--bundle", o->bundle, "Check this built bundle directory instead of the project");
  cmd->add_option("--size-budget", o->size_budget,
                  "Gzip size budget, e.g. 10MiB (default: $PYBUNDLE_SIZE_BUDGET, else [tool.pybundle] size-budget)");
  const auto& names = check_names();
  std::string listed;
  for (const auto& n : names) listed += (listed.empty() ? "" : ", ") + n;
  cmd->add_option("--skip", o->skip, "Do not run this check (repeatable): " + listed)->check(CLI::IsMember(names));
  add_sandbox_flag(*cmd);
  add_plan_options(*cmd, o->plan);
  // check has a third output format.
  if (auto* opt = cmd->get_option_no_throw("--format")) cmd->remove_option(opt);
  add_format_option(*cmd, {"github", "human", "json"}, "Output: human, json or github (::error annotations)");
  cmd->footer(
      "Examples:\n"
      "  pybundle check                          the project in the current directory\n"
      "  pybundle check --size-budget 3MiB app/  a project, with a budget\n"
      "  pybundle check --bundle dist            a built bundle (files, snapshot, entry, imports, size, a request)\n"
      "  pybundle check --format github          annotations for GitHub Actions\n"
      "  pybundle check --format json | jq .ok\n"
      "Exit status: 0 no errors, 1 a check found problems, 2 usage or configuration error,\n"
      "3 network or I/O error, 4 internal error.");
  cmd->callback([o, dir] {
    o->dir_given = dir->count() > 0;
    run_check(*o);
  });
}

// "TEXT:{auto,always,never}" or "ENUM:value in {human->0,json->1} OR {0,1}" -> the names.
std::vector<std::string> choices_of(const std::string& type_name) {
  std::vector<std::string> out;
  auto open = type_name.find('{');
  auto close = type_name.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return out;
  std::string inner = type_name.substr(open + 1, close - open - 1);
  size_t start = 0;
  while (start <= inner.size()) {
    auto comma = inner.find(',', start);
    if (comma == std::string::npos) comma = inner.size();
    std::string item = inner.substr(start, comma - start);
    if (auto arrow = item.find("->"); arrow != std::string::npos) item.resize(arrow);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

// Every command, option and choice as registered, so the completions never fall behind the CLI.
void describe(const CLI::App& app, std::vector<std::string> path, std::vector<CompletionCommand>& out) {
  CompletionCommand cmd;
  cmd.path = path;
  cmd.help = app.get_description();
  for (const CLI::Option* o : app.get_options()) {
    if (!o->nonpositional()) continue;  // positional arguments complete as files
    CompletionOption opt;
    for (const auto& l : o->get_lnames()) opt.names.push_back("--" + l);
    for (const auto& s : o->get_snames()) opt.names.push_back("-" + s);
    opt.help = o->get_description();
    opt.takes_value = o->get_expected_min() > 0;  // flags expect 0 values
    if (opt.takes_value) opt.choices = choices_of(o->get_type_name());
    cmd.options.push_back(std::move(opt));
  }
  out.push_back(cmd);
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    auto p = path;
    p.push_back(sub->get_name());
    describe(*sub, p, out);
  }
}

void add_completions(CLI::App& app) {
  auto* cmd = app.add_subcommand("completions", "Print a shell completion script (bash, zsh or fish)");
  static std::string shell;
  cmd->add_option("SHELL", shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
  cmd->footer(
      "Examples:\n"
      "  pybundle completions bash > ~/.local/share/bash-completion/completions/pybundle\n"
      "  pybundle completions zsh > \"${fpath[1]}/_pybundle\"\n"
      "  pybundle completions fish > ~/.config/fish/completions/pybundle.fish");
  CLI::App* root = &app;
  cmd->callback([root] {
    std::vector<CompletionCommand> commands;
    describe(*root, {}, commands);
    run_completions(shell, commands);
  });
}

void add_self(CLI::App& app) {
  auto* self = app.add_subcommand("self", "About this installation of pybundle");
  self->require_subcommand(1);
  self->add_subcommand("check", "Show Node.js, npm, the runtime cache, installed Pyodide releases and CA certificates")
      ->callback(run_self_check);
}

void add_export(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand("export", "Write a built bundle as a wrangler project (Cloudflare Python Workers)");
  cmd->add_option("BUNDLE", a->bundle, "Bundle directory (holds bundle.json)")->required();
  cmd->add_option(
      "-o,--out", a->out,
      "Project directory to write (default: BUNDLE-wrangler); replaced only when empty or an earlier export");
  cmd->add_option("--name", a->name, "Worker name (default: the project's name)");
  cmd->add_option("--compatibility-date", a->compatibility_date,
                  "wrangler.toml compatibility_date (default " + std::string(vendor::kCompatibilityDate) + ")");
  cmd->fallthrough();
  cmd->footer(
      "Writes src/ (the app), python_modules/ and wrangler.toml (name, main, compatibility date, the\n"
      "python_workers flags for the bundle's Python, [vars]); prints the upload size wrangler will report.\n"
      "Examples:\n"
      "  pybundle export dist                      # -> dist-wrangler/\n"
      "  pybundle export dist --out deploy --name my-worker\n"
      "  cd deploy && npx wrangler deploy --dry-run --outdir /tmp/out");
  cmd->callback([a] { run_export(*a); });
}

void add_inspect(CLI::App& app) {
  auto a = std::make_shared<InspectArgs>();
  auto* cmd = app.add_subcommand("inspect",
                                 "Show what each distribution of a bundle costs: size, gzip size, import time; "
                                 "--shrink: what --minimize and --compile would save");
  cmd->add_option("BUNDLE", a->bundle, "Bundle directory (holds bundle.json)")->required();
  cmd->add_option("--size-budget", a->size_budget,
                  "Gzip size budget to compare with, e.g. 3MiB (default $PYBUNDLE_SIZE_BUDGET)");
  cmd->add_flag("--shrink", a->shrink,
                "Also measure what --minimize and --compile=drop-sources would ship: both are done on copies of the "
                "bundle in its runtime (two Pyodide starts)");
  cmd->fallthrough();
  cmd->footer(
      "Examples:\n"
      "  pybundle inspect dist\n"
      "  pybundle inspect dist --size-budget 3MiB\n"
      "  pybundle inspect dist --shrink\n"
      "  pybundle inspect dist --format json | jq '.contributors[0]'");
  cmd->callback([a] { run_inspect(*a); });
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"pybundle: bundle a Python project for Pyodide, with a memory snapshot"};
  app.set_version_flag("--version", version_text(), "Print the version, commit, default and supported targets");
  app.require_subcommand(1);
  app.fallthrough();  // global options (-q, -v, --color, ...) after the command too, as uv allows
  auto& g = global();
  app.add_flag("-q,--quiet", g.quiet, "Print only errors")->configurable(false);
  app.add_flag("-v,--verbose", g.verbose, "More detail (repeatable)");
  app.add_option("--color", g.color, "Colour: auto, always, never")->check(CLI::IsMember({"auto", "always", "never"}));
  add_format_option(app, {"github", "human", "json"}, "Output: human, json, github (github: check only)");
  app.add_option("--cache-dir", g.cache_dir, "Cache directory (default $XDG_CACHE_HOME/pybundle)")
      ->envname("PYBUNDLE_CACHE_DIR");
  app.add_option_function<double>(
         "--timeout", [](const double& s) { runtime::set_host_timeout(s); },
         "Seconds one run of the JavaScript host may take (snapshot, smoke, run, check; in serve, each "
         "request), default 300; 0: no limit")
      ->check(CLI::Validator(
          [](const std::string& s) -> std::string {
            char* end = nullptr;
            double v = std::strtod(s.c_str(), &end);
            return end != s.c_str() && *end == '\0' && v >= 0 && v <= 1e9
                       ? ""
                       : "'" + s + "' is not a number of seconds, 0 or more";
          },
          "SECONDS"));
  add_build(app);
  add_cache(app);
  add_plan(app);
  add_why(app);
  add_run(app);
  add_serve(app);
  add_snapshot(app);
  add_check(app);
  add_completions(app);
  add_self(app);
  add_export(app);
  add_inspect(app);
  for (auto* cmd : app.get_subcommands({}))
    if (cmd->get_name() != "check") refuse_github_format(*cmd);

  // --format json: a command that fails before printing its result still prints one JSON object.
  auto fail = [&](Exit code, const std::vector<std::string>& errors) {
    interrupt::hold_if_interrupted();
    if (g.format == Format::json && !json_printed())
      print_json({{"ok", false}, {"exit", static_cast<int>(code)}, {"errors", errors}});
    return static_cast<int>(code);
  };
  // The first word that is not an option (or a global option's value) names the command. An
  // unknown one is refused before parsing, so --format json is looked for here.
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--format=json" || (a == "--format" && i + 1 < argc && std::string_view(argv[i + 1]) == "json"))
      g.format = Format::json;
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") break;
    if (a == "--color" || a == "--format" || a == "--cache-dir" || a == "--timeout") {
      ++i;
      continue;
    }
    if (a.starts_with("-")) continue;
    std::string names;
    bool known = false;
    for (const auto* cmd : app.get_subcommands({})) {
      names += (names.empty() ? "" : ", ") + cmd->get_name();
      known = known || cmd->get_name() == a;
    }
    if (known) break;
    error("unknown command '" + std::string(a) + "' (commands: " + names + "; see pybundle --help)");
    return fail(Exit::usage, {"unknown command '" + std::string(a) + "'"});
  }
  // An error or the end of a command while a signal is being handled waits there to be killed.
  struct Hold {
    ~Hold() { interrupt::hold_if_interrupted(); }
  } hold;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : fail(Exit::usage, {e.what()});
  } catch (const Errors& e) {
    interrupt::hold_if_interrupted();
    error(e.what());
    return fail(e.code(), e.problems());
  } catch (const Error& e) {
    interrupt::hold_if_interrupted();
    error(e.what());
    return fail(e.code(), {e.what()});
  } catch (const std::exception& e) {
    interrupt::hold_if_interrupted();
    error(std::string("internal error: ") + e.what());
    return fail(Exit::internal, {std::string("internal error: ") + e.what()});
  }
  return 0;
}

}  // namespace pb::cli
