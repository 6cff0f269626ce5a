// The floor for issue 6's benchmarks: stock Pyodide, no pybundle code involved.
//   node stock_restore.mjs make RUNTIME_DIR OUT     write a snapshot with nothing imported
//   node stock_restore.mjs restore RUNTIME_DIR FILE  restore it and answer one call
import fs from "node:fs";
import { pathToFileURL } from "node:url";

const [mode, runtime, file] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(`${runtime}/pyodide.mjs`).href);
if (mode === "make") {
  const py = await loadPyodide({ indexURL: `${runtime}/`, _makeSnapshot: true });
  fs.writeFileSync(file, py.makeMemorySnapshot());
} else {
  const py = await loadPyodide({ indexURL: `${runtime}/`, _loadSnapshot: fs.readFileSync(file) });
  console.log(py.runPython("'ok'"));
}
