export { validate, MAX_LOWERS, type OverlaySpec } from "./validate.js";
export { checkPaths } from "./preflight.js";
export { mountOverlay, openOverlay, umountOverlay, type MountApi, type MountOptions } from "./mount.js";
export { writeDiff, type DiffOptions } from "./diff.js";
export { readMountinfo, mountsUnder, type MountEntry } from "./mountinfo.js";
export { MOUNT_DATA_MAX } from "./mountdata.js";
