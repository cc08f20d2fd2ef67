// Start a tool from its CommonJS bundle (dist/<tool>.cjs, see scripts/bundle.mjs)
// with V8's code cache beside it, so that a command parses and compiles only
// what it did not run before: Node 20 caches nothing for ES modules, and a
// tool's start is most of a short command's time. Each bin file calls run().
"use strict";
const { createHash } = require("node:crypto");
const { accessSync, constants, readFileSync, renameSync, unlinkSync, writeFileSync } = require("node:fs");
const Module = require("node:module");
const { dirname } = require("node:path");
const vm = require("node:vm");

// V8 checks a cache against the source's length, not its bytes: the file
// starts with the bundle's own hash, so a rebuilt bundle never runs old code.
const HASH_BYTES = 32;

exports.run = function run(file) {
  const source = readFileSync(file, "utf8");
  const hash = createHash("sha256").update(source).digest();
  // One cache per verb (`box run`, `box ps`...): a cache holds the functions
  // its first run compiled, and each verb runs its own.
  const verb = /^[a-z][a-z-]{0,30}$/.test(process.argv[2] ?? "") ? process.argv[2] : "main";
  const cachePath = `${file}.${verb}.cache`;
  let cachedData;
  try {
    const c = readFileSync(cachePath);
    if (c.subarray(0, HASH_BYTES).equals(hash)) cachedData = c.subarray(HASH_BYTES);
  } catch {
    // none yet
  }
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  // Made at exit, so it holds the functions this run compiled as well; not
  // at all where it could not be written (a read-only install, another user).
  if ((cachedData === undefined || script.cachedDataRejected) && writable(dirname(file))) {
    process.once("exit", () => writeCache(cachePath, hash, script));
  }
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(dirname(file));
  script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, dirname(file));
};

function writable(dir) {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function writeCache(cachePath, hash, script) {
  const tmp = `${cachePath}.${process.pid}`;
  try {
    writeFileSync(tmp, Buffer.concat([hash, script.createCachedData()]));
    renameSync(tmp, cachePath);
  } catch {
    // Lost a race, or the disk is full: the next run tries again.
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
  }
}
