/**
 * @box/registry: a client for the OCI distribution API (Docker Registry HTTP API v2) and the
 * credentials file `box login` keeps. mkroot's pull and push use it; it knows nothing of stores.
 */
export { RegistryClient, MEDIA_TYPES, MANIFEST_ACCEPT, type ClientOptions, type FetchedManifest } from "./client.js";
export { parseChallenge, repoScope, tokenUrl, basicHeader, type Challenge, type Credentials } from "./auth.js";
export { RegistryError, UnauthorizedError, UnreachableError, networkReason } from "./errors.js";
export { isInsecure, endpointHost, DEFAULT_CERTS_D } from "./transport.js";
export {
  getCredentials,
  saveCredentials,
  removeCredentials,
  boxConfigPath,
  dockerConfigPath,
  credentialKey,
  DOCKER_HUB_KEY,
} from "./credentials.js";
export { isIndex, isImageManifest, parsePlatform, formatPlatform, pickPlatform, type Platform, type ManifestDescriptor } from "./manifest.js";
