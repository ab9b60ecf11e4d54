// The upload guards' one decision, as in the Python client (nsfw_client/guard.py):
// adult is refused, as is an upload matching a `reject` hash list; unknown follows `unknown` (allow,
// refuse, flag); an upload the service cannot decode is refused; the service down follows `fail`
// (open: allowed and flagged, closed: refused).

import { APIError, ListedContent, NsfwError } from "./errors.js";

export const UNREADABLE = new Set([
  "unsupported_media",
  "corrupt_image",
  "image_too_large",
  "image_too_complex",
  "too_large",
  "invalid_base64",
  "video_unsupported",
  "unsupported_codec",
  "corrupt_video",
  "video_too_large",
  "video_too_long",
  "video_too_complex",
]);
export const MESSAGES = {
  nsfw_adult: "This file was refused: it looks like adult content.",
  nsfw_listed: "This file was refused: it matches content this service refuses.",
  nsfw_unknown: "This file was refused: it could not be confirmed as safe.",
  nsfw_unreadable: "This file could not be read as an image or a video.",
  nsfw_unchecked: "This file could not be checked right now; please try again later.",
};

const refuse = (code, extra) => ({ allowed: false, flagged: false, code, message: MESSAGES[code], ...extra });

export class Guard {
  /** @param {import("./index.js").Client} client */
  constructor(client, { unknown = "flag", fail = "closed", model } = {}) {
    if (!["allow", "refuse", "flag"].includes(unknown)) throw new TypeError(`unknown must be allow, refuse or flag`);
    if (!["open", "closed"].includes(fail)) throw new TypeError(`fail must be open or closed`);
    Object.assign(this, { client, unknown, fail, model });
  }

  /** Classify `upload` and decide. */
  async check(upload) {
    try {
      return this.decide(await this.client.classify(upload, { model: this.model }));
    } catch (error) {
      if (!(error instanceof NsfwError)) throw error;
      return this.decide(error);
    }
  }

  decide(outcome) {
    if (!(outcome instanceof NsfwError)) {
      const result = outcome;
      if (result.verdict === "adult") return refuse("nsfw_adult", { result, verdict: "adult" });
      if (result.verdict === "unknown" && this.unknown === "refuse") {
        return refuse("nsfw_unknown", { result, verdict: "unknown" });
      }
      const flagged = result.verdict === "unknown" && this.unknown === "flag";
      const message = flagged ? "flagged for review" : "allowed";
      return { allowed: true, flagged, code: `nsfw_${result.verdict}`, message, result, verdict: result.verdict };
    }
    if (outcome instanceof ListedContent) return refuse("nsfw_listed", { error: outcome }); // a `reject` hash list
    if (outcome instanceof APIError && UNREADABLE.has(outcome.code)) return refuse("nsfw_unreadable", { error: outcome });
    if (this.fail === "open") {
      return { allowed: true, flagged: true, code: "nsfw_unchecked", message: "allowed unchecked (fail open)", error: outcome };
    }
    return refuse("nsfw_unchecked", { error: outcome });
  }
}
