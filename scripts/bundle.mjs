// Bundle each tool's compiled entry (dist/bin.js) into one CommonJS file,
// dist/<tool>.cjs, that its bin file starts through @box/cli/loader with
// V8's code cache. A tool then starts by reading one file and, from its
// second run on, skips parsing and compiling what it ran before: box run is
// ~25 ms faster here than from the ES module chunks this used to make, whose
// compilation V8 cannot cache in Node 20 (no module compile cache before 22).
// Two dependencies stay external and are resolved at run time from the
// workspace root (the root package.json lists them at the versions the
// packages use, so it is the very same module instance): koffi, a native
// module, and tar-stream, whose PAX decoder mkroot wraps in place to keep
// binary xattrs (see packages/mkroot/src/pax.ts): a bundled copy would not
// be the one that the wrap reaches.
import { build } from "esbuild";
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const packages = join(root, "packages");

// Helpers that a bundle finds beside itself (new URL("./x", import.meta.url)).
const HELPERS = [join(packages, "ns-exec", "dist", "ns-init")];

const jobs = [];
for (const dir of readdirSync(packages)) {
  const pkgFile = join(packages, dir, "package.json");
  if (!existsSync(pkgFile)) continue;
  const pkg = JSON.parse(readFileSync(pkgFile, "utf8"));
  if (!pkg.bin) continue;
  const entry = join(packages, dir, "dist", "bin.js");
  if (!existsSync(entry)) throw new Error(`bundle: ${entry} is missing: run the build first`);
  // What earlier builds left: ES module bundles and chunks, and code caches of
  // a bundle that is about to change (the loader would reject them anyway).
  const dist = join(packages, dir, "dist");
  for (const f of readdirSync(dist)) if (/\.mjs$|\.cache$/.test(f)) rmSync(join(dist, f));
  for (const name of Object.keys(pkg.bin)) {
    const outfile = join(dist, `${name}.cjs`);
    jobs.push(
      build({
        entryPoints: [entry],
        outfile,
        bundle: true,
        platform: "node",
        target: "node20",
        format: "cjs",
        external: ["koffi", "tar-stream"],
        // import() of what stays out (node:*, tar-stream) becomes require(): a
        // script run from V8's code cache has no dynamic import callback.
        supported: { "dynamic-import": false },
        logLevel: "warning",
        // The sources are ES modules that find files beside themselves
        // (new URL("./ns-init", import.meta.url)); in one CommonJS file that is
        // the bundle's own URL.
        define: { "import.meta.url": "__boxBundleUrl" },
        // Strict, as the ES modules it is made of were.
        banner: { js: '"use strict";\nconst __boxBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
      }).then(() => {
        const code = readFileSync(outfile, "utf8");
        for (const helper of HELPERS) {
          const helperName = helper.split("/").pop();
          const dest = join(dist, helperName);
          if (code.includes(`"./${helperName}"`) && existsSync(helper) && helper !== dest) copyFileSync(helper, dest);
        }
      }),
    );
  }
}
await Promise.all(jobs);
