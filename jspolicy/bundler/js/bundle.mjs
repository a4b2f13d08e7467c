// jspolicy's esbuild driver (run by jspolicy/bundler/build.py with Node): one bundle, with a resolve guard.
//
// Reads a JSON request on stdin: {api, entry, workdir, outfile, banner, allowed}. `api` is the pinned
// esbuild JavaScript API (lib/main.js; ESBUILD_BINARY_PATH names the pinned binary). `allowed`, when set,
// lists the directories a bundle may be made of: every import is resolved first and refused unless its
// real path lies in one of them, and every file is checked again before it is loaded, so nothing outside
// (a file of the machine, /dev/zero) is ever read, and no message names or quotes one.
// Prints {errors: [{file, line, column, text}], inputs: [path]} on stdout.
import { createRequire } from "node:module";
import { realpathSync, readFileSync } from "node:fs";
import { sep } from "node:path";

const request = JSON.parse(readFileSync(0, "utf8"));
const esbuild = createRequire(import.meta.url)(request.api);
const GUARDED = Symbol("resolved by the guard");

function inside(path, roots) {
  return roots.some((root) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep));
}

let refused = false; // a file outside was about to be read: report that alone, naming nothing

const guard = {
  name: "jspolicy-allowed-paths",
  setup(build) {
    // Every file is checked again before it is read: template-string require()/import() expand to globs
    // that never pass through onResolve.
    build.onLoad({ filter: /.*/, namespace: "file" }, (args) => {
      let real;
      try {
        real = realpathSync(args.path);
      } catch {
        real = null;
      }
      if (real !== null && inside(real, request.allowed)) return undefined;
      refused = true;
      return { errors: [{ text: "refused" }] };
    });
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === GUARDED) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, with: args.with, pluginData: GUARDED,
      });
      if (resolved.errors.length > 0 || resolved.external || resolved.namespace !== "file") return resolved;
      let real;
      try {
        real = realpathSync(resolved.path);
      } catch {
        return { errors: [{ text: `cannot resolve "${args.path}"` }] };
      }
      if (!inside(real, request.allowed)) {
        return { errors: [{ text: `may not import "${args.path}": a policy imports only its npm dependencies` }] };
      }
      return resolved;
    });
  },
};

const options = {
  absWorkingDir: request.workdir,
  entryPoints: [request.entry],
  outfile: request.outfile,
  bundle: true,
  format: "cjs",
  platform: "neutral",
  mainFields: ["main", "module"],
  target: "es2020",
  charset: "utf8",
  legalComments: "none",
  preserveSymlinks: true,
  banner: { js: request.banner },
  metafile: true,
  logLevel: "silent",
  plugins: request.allowed ? [guard] : [],
};

const where = (message) => ({
  file: message.location ? message.location.file : "",
  line: message.location ? message.location.line : 0,
  column: message.location ? message.location.column : 0,
  text: message.text,
});

let result;
try {
  const built = await esbuild.build(options);
  result = { errors: [], inputs: Object.keys(built.metafile.inputs) };
} catch (failure) {
  if (!Array.isArray(failure.errors)) throw failure;
  result = { errors: failure.errors.slice(0, 20).map(where), inputs: [] };
}
if (refused) {
  result = { errors: [{ file: "", line: 0, column: 0,
    text: "reads files outside the policy and its npm dependencies (a require() or import() of a path, or of a " +
      "template string that expands to one): a policy imports only its npm dependencies" }], inputs: [] };
}
process.stdout.write(JSON.stringify(result));
