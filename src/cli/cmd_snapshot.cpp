// pybundle snapshot BUNDLE: (re)make the memory snapshot of an existing bundle directory.
#include <iostream>

#include "build/build.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "runtime/runtime.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"

namespace pb::cli {

void run_snapshot(const SnapshotArgs& a) {
  std::filesystem::path dir = a.bundle;
  auto manifest = bundle::read(dir);
  const std::string version = manifest.target.pyodide;
  const std::string entry = manifest.entry ? manifest.entry->module : "";
  if (version.empty() || entry.empty())
    throw Error((dir / bundle::kFile).string() + ": needs target.pyodide and entry.module", Exit::usage);

  // A snapshot of edited files would be recorded for bundle.json's digest, and every restore would refuse it.
  if (auto why = snapshot::files_reason(dir, manifest); !why.empty())
    throw Error(dir.string() + ": " + why + "; rebuild the bundle with `pybundle build` instead of editing it",
                Exit::problems);
  runtime::find_node();  // before installing a runtime that could not run anyway
  snapshot::MakeOptions o;
  o.cache_dir = global().cache();
  o.runtime_dir = runtime::ensure_runtime(version, o.cache_dir);
  o.bundle_dir = dir;
  o.entry_module = entry;
  // The build's preimport list and hash seed (bundle.json snapshot.recipe) unless the options replace them.
  const auto* recipe = manifest.snapshot && manifest.snapshot->recipe ? &*manifest.snapshot->recipe : nullptr;
  o.preimport = a.preimport;
  if (a.preimport.empty() && recipe && recipe->preimport) o.preimport = *recipe->preimport;
  o.level = a.level;
  o.hash_seed = a.hash_seed;
  if (!o.hash_seed && recipe) o.hash_seed = recipe->hash_seed;
  info("making the snapshot: importing '" + entry + "' in Pyodide " + version);
  auto result = snapshot::make_snapshot(o);
  for (const auto& w : result.warnings) warning(w);
  manifest.snapshot = result.facts;
  manifest.snapshot->recipe = build::snapshot_recipe(entry, o.preimport, version, result.facts.hash_seed.value_or(0));
  manifest.write(dir);
  info("wrote " + (dir / "snapshot.bin.zst").string() + " (" + std::to_string(result.facts.size.value_or(0) >> 10) +
       " KiB, heap " + std::to_string(result.facts.heap_size.value_or(0) >> 20) + " MiB)");
}

}  // namespace pb::cli
