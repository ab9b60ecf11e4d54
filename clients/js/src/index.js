// nsfw-client: the client of nsfw-service, and an Express upload guard (nsfw-client/express).
export { Client, VERSION, RETRYABLE, DEFAULT_BATCH } from "./client.js";
export { Guard } from "./guard.js";
export * from "./errors.js";
