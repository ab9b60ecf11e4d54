// Express upload guard: middleware placed after the one that reads the upload.
//
//   app.post("/avatar", express.raw({ type: "image/*", limit: "10mb" }), nsfwGuard({ guard }), handler)
//   app.post("/avatar", multer().single("image"), nsfwGuard({ guard, field: "image" }), handler)
//
// The upload is read from req.file / req.files (multer: memory storage's `buffer`, or disk storage's
// `path`) or a Buffer req.body (express.raw). Nothing is consumed: the handler sees the same buffer
// or file. A refusal goes to Express's error handling (next(err)) as an UploadRefused with status 422;
// req.nsfw is the decision either way.

import { Guard } from "./guard.js";

export class UploadRefused extends Error {
  constructor(field, decision) {
    super(`${field}: ${decision.message}`);
    this.name = "UploadRefused";
    this.status = this.statusCode = 422;
    this.expose = true; // its message is for the user
    this.code = decision.code;
    this.field = field;
    this.decision = decision;
  }
}

function uploadsOf(req, field) {
  if (req.file && (req.file.fieldname ?? field) === field) return [req.file];
  if (Array.isArray(req.files)) return req.files.filter((f) => f.fieldname === field);
  if (req.files && Array.isArray(req.files[field])) return req.files[field];
  if (Buffer.isBuffer(req.body) && req.body.length) return [{ buffer: req.body, originalname: "body" }];
  return [];
}

async function bytesOf(file) {
  if (file.buffer) return new Blob([file.buffer]);
  const { readFile } = await import("node:fs/promises");
  return new Blob([await readFile(file.path)]);
}

/** @param {import("./index.js").ExpressGuardOptions} options */
export function nsfwGuard({ guard, client, field = "image", unknown, fail } = {}) {
  const decider = guard ?? new Guard(client, { unknown, fail });
  return async function nsfwGuardMiddleware(req, res, next) {
    try {
      const decisions = [];
      req.nsfw = { decisions, flagged: false };
      for (const file of uploadsOf(req, field)) {
        const decision = await decider.check(await bytesOf(file));
        decisions.push(decision);
        if (!decision.allowed) return next(new UploadRefused(field, decision));
        req.nsfw.flagged ||= decision.flagged;
      }
      next();
    } catch (error) {
      next(error);
    }
  };
}
