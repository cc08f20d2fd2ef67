export { createEndpoint, removeEndpoint, inspectEndpoint, attachEndpoint, detachEndpoint, type EndpointInfo, type AttachmentInfo } from "./endpoint.js";
export { createNetwork, removeNetwork, networks, inspectNetwork, ConflictError } from "./network.js";
export { gc } from "./gc.js";
export { hostsFor } from "./hosts.js";
export { parsePublish, formatMapping, type PortMapping, type Proto } from "./publish.js";
export { validateEndpoint, validateNetwork, validateAttach, InvalidError, type EndpointOptions, type NetworkOptions, type AttachOptions } from "./validate.js";
export { render as renderNft } from "./nft.js";
export { config, DEFAULT_NETWORK, type Config } from "./config.js";
export type { Network, Endpoint, ExtraHost } from "./state.js";
