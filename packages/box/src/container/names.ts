/**
 * Container names: reserved atomically with O_EXCL, so two `box run --name x`
 * racing each other cannot both win, and generated as Docker does
 * (adjective_surname) when absent.
 */
import { randomInt } from "node:crypto";
import { mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeSync, constants } from "node:fs";
import { join } from "node:path";
import { ExitError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { namesDir } from "../paths.js";

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const ADJECTIVES = ["admiring", "brave", "busy", "clever", "eager", "elegant", "focused", "gallant", "happy", "jolly", "keen", "loving", "modest", "nifty", "peaceful", "quirky", "serene", "stoic", "tender", "vibrant", "wizardly", "zealous"];
const SURNAMES = ["bell", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "kepler", "lamport", "lovelace", "mccarthy", "noether", "pike", "ritchie", "shannon", "thompson", "torvalds", "turing", "wozniak"];

export function validateName(name: string): void {
  if (!NAME.test(name)) throw new ExitError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, 125);
}

export function generateName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SURNAMES[randomInt(SURNAMES.length)]}`;
}

/** Reserve NAME for ID; throws Docker's conflict message if taken. */
export function reserveName(p: BoxPaths, name: string, id: string): void {
  const dir = namesDir(p);
  mkdirSync(dir, { recursive: true });
  let fd: number;
  try {
    fd = openSync(join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    const owner = lookupName(p, name) ?? "";
    throw new ExitError(`Conflict. The container name "/${name}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`, 125);
  }
  try {
    writeSync(fd, id);
  } finally {
    closeSync(fd);
  }
}

/** A generated name that is free, reserved for ID. */
export function reserveGeneratedName(p: BoxPaths, id: string): string {
  for (let i = 0; i < 50; i++) {
    const name = i < 10 ? generateName() : `${generateName()}${randomInt(1000)}`;
    try {
      reserveName(p, name, id);
      return name;
    } catch (e) {
      if (!(e instanceof ExitError)) throw e;
    }
  }
  throw new ExitError("could not generate a free container name", 125);
}

export function lookupName(p: BoxPaths, name: string): string | undefined {
  try {
    return readFileSync(join(namesDir(p), name), "utf8");
  } catch {
    return undefined;
  }
}

/** The names reserved for ID: one, or none for a container whose maker died before reserving it. */
export function namesOf(p: BoxPaths, id: string): string[] {
  let all: string[];
  try {
    all = readdirSync(namesDir(p));
  } catch {
    return [];
  }
  return all.filter((n) => lookupName(p, n) === id);
}

export function releaseName(p: BoxPaths, name: string): void {
  rmSync(join(namesDir(p), name), { force: true });
}
