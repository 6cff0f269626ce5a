#include "cli/planning.hpp"

#include "cli/common.hpp"

namespace pb::cli {

void add_plan_options(CLI::App& cmd, PlanOptions& o) {
  o.default_target = default_target();
  cmd.add_option("--target", o.target,
                 "Pyodide release, e.g. pyodide@0.29.3 (default: $PYBUNDLE_TARGET, else "
                 "[tool.pybundle] target, else " +
                     default_target() + ")")
      ->envname("PYBUNDLE_TARGET");
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

PlanOptions resolved(PlanOptions options) {
  options.cache_dir = global().cache();
  return options;
}

}  // namespace pb::cli
