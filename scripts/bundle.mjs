// Bundle each tool's compiled entry (dist/bin.js) into one ES module
// (dist/<tool>.mjs) that its bin file imports. A tool then starts by reading
// one file instead of resolving and loading dozens: on this project's VM that
// is the difference between ~60 ms and ~10 ms of module loading per command.
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
  // Chunk names carry content hashes: drop the last build's.
  const dist = join(packages, dir, "dist");
  if (existsSync(dist)) for (const f of readdirSync(dist)) if (/^chunk-.*\.mjs$/.test(f)) rmSync(join(dist, f));
  for (const name of Object.keys(pkg.bin)) {
    const outfile = join(packages, dir, "dist", `${name}.mjs`);
    jobs.push(
      build({
        entryPoints: { [name]: entry },
        outdir: join(packages, dir, "dist"),
        outExtension: { ".js": ".mjs" },
        // Commands are imported when dispatched; splitting keeps each in its
        // own chunk, so `box run` does not load the registry client.
        splitting: true,
        // Chunks sit beside the entry: code that finds its helpers next to
        // itself (new URL("./ns-init", import.meta.url)) finds them from any chunk.
        chunkNames: "chunk-[hash]",
        bundle: true,
        platform: "node",
        target: "node20",
        format: "esm",
        external: ["koffi", "tar-stream"],
        logLevel: "warning",
        metafile: true,
        // CommonJS dependencies (minimist, tar-stream) call require().
        banner: { js: "import { createRequire as __boxRequire } from 'node:module'; const require = __boxRequire(import.meta.url);" },
      }).then((result) => {
        // The code that looks for a helper beside itself may sit in any chunk.
        const code = Object.keys(result.metafile.outputs).map((f) => readFileSync(f, "utf8")).join("\n");
        for (const helper of HELPERS) {
          const name = helper.split("/").pop();
          const dest = join(packages, dir, "dist", name);
          if (code.includes(`"./${name}"`) && existsSync(helper) && helper !== dest) copyFileSync(helper, dest);
        }
      }),
    );
  }
}
await Promise.all(jobs);
