/**
 * @box/mkroot: the local content-addressed image store. box calls this in-process; the
 * `mkroot` command is a thin argv mapping over the same API.
 */
export type { PullOptions, PullResult, ProgressEvent, ProgressStatus, RegistryOptions } from "./pull.js";
export type { PushOptions, PushResult } from "./push.js";
export type { CommitOptions, CommitLayer, StoredLayer } from "./commit.js";
export { Store, DEFAULT_ROOT, MEDIA_TYPE_MANIFEST, REF_NAME_ANNOTATION, REPO_DIGEST_ANNOTATION, type Image, type ImageSummary, type ImportOptions, type RemoveOptions } from "./store.js";
export {
  applyChanges,
  buildImageConfig,
  canonicalConfig,
  CHANGE_INSTRUCTIONS,
  InvalidChangeError,
  type HistoryEntry,
  type HealthConfig,
  type ImageConfig,
  type OciImageConfig,
} from "./config.js";
export { NoSuchImageError, AmbiguousImageError, ImageConflictError } from "./errors.js";
export {
  parseReference,
  normalizeTaggedName,
  splitTaggedName,
  isLookupReference,
  InvalidReferenceError,
  registryOf,
  familiarName,
  fullName,
  DEFAULT_DOMAIN,
  type Reference,
} from "./reference.js";
export { entryPath, EntryError, OPAQUE_XATTR } from "./extract.js";
export { unpackLayer, type UnpackedLayer, type Descriptor } from "./layer.js";
export { shiftLayers, shiftedDir, toHost, type IdRange } from "./shift.js";
export { parseCommand, run, HELP, type Command } from "./cli.js";
export { login, logout, type LoginOptions } from "./login.js";
