import type { Decision, ExpressGuardOptions } from "./index.js";

export declare class UploadRefused extends Error {
  readonly status: 422;
  readonly statusCode: 422;
  readonly expose: true;
  readonly code: Decision["code"];
  readonly field: string;
  readonly decision: Decision;
}

/** Express middleware: place it after the one that reads the upload (multer, express.raw). */
export declare function nsfwGuard(
  options: ExpressGuardOptions,
): (req: any, res: any, next: (error?: unknown) => void) => Promise<void>;
