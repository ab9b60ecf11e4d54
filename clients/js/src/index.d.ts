// Types of nsfw-client. Field names are the API's (/openapi.json, schema Classification).
export * from "./errors.js";
import type { NsfwError, APIError } from "./errors.js";

export declare const VERSION: string;
export declare const RETRYABLE: ReadonlySet<string>;
export declare const DEFAULT_BATCH: number;

export type Verdict = "adult" | "unknown" | "safe";
export type Scores = Record<"drawings" | "hentai" | "neutral" | "porn" | "sexy", number>;

export interface Video {
  duration_s: number | null;
  width: number;
  height: number;
  codec: string;
  frames_classified: number;
  frames_decoded: number;
}

/** A PDQ perceptual hash: 256 bits as 64 hex digits, and its quality (0-100). */
export interface Pdq {
  hash: string;
  quality: number;
}

/** Known content an image's hash matched: a decided review item (`item`) or a hash list (`list`). */
export interface Match {
  source: "review" | "list";
  /** bits between the two hashes */
  distance: number;
  item?: number;
  list?: string;
}

export interface Frame {
  /** seconds */
  t: number;
  scores: Scores;
  pdq?: Pdq | null;
}

/** One image or video classified. `verdict` is what to act on: adult, unknown (ask a person) or safe. */
export interface Result {
  source: string;
  model: string;
  scores: Scores;
  top: string;
  nsfw: number;
  verdict: Verdict;
  categories: { safe: number; nsfw: number; subcategories: Record<string, number> };
  frames: number;
  image: { format: string; width: number; height: number };
  timing_ms: Record<string, number>;
  cached: boolean;
  /** "review": a person decided these bytes (or a near-duplicate's); "list": a hash list did (see match) */
  decided_by?: "model" | "review" | "list";
  video?: Video;
  /** a video's classified frames, in order */
  timeline?: Frame[];
  /** the answered frame's perceptual hash, where the service computes one */
  pdq?: Pdq | null;
  /** an animation's classified frames' hashes, in order */
  frames_pdq?: Pdq[];
  /** the known content that decided the verdict, where the service found one */
  match?: Match;
}

/** A URL (http/https), a path (Node), a Blob or File, or bytes. */
export type Source = string | Blob | ArrayBuffer | ArrayBufferView;

export interface ClientOptions {
  /** default http://127.0.0.1:8080 */
  baseUrl?: string;
  apiKey?: string | null;
  /** milliseconds per request, default 30000 */
  timeout?: number;
  /** how often a request refused as temporarily busy (503 overloaded, 429 rate_limited...) is sent again; default 3 */
  retries?: number;
  /** the longest Retry-After (seconds) to wait for; beyond it the error is thrown at once; default 30 */
  maxRetryAfter?: number;
  /** images per /v1 request, default 16; lowered to the server's NSFW_MAX_BATCH when it says so */
  batchSize?: number;
  fetch?: typeof globalThis.fetch;
}

export interface ClassifyOptions {
  model?: string;
  adultThreshold?: number;
  safeThreshold?: number;
}

export declare class Client {
  constructor(options?: ClientOptions);
  readonly baseUrl: string;
  batchSize: number;
  classify(source: Source, options?: ClassifyOptions): Promise<Result>;
  /** One outcome per source, in order: a Result, or the error of an item that failed (not thrown). */
  classifyMany(sources: Source[], options?: ClassifyOptions & { concurrency?: number }): Promise<(Result | APIError)[]>;
  predictUrl(url: string, options?: { model?: string }): Promise<Scores>;
  health(): Promise<boolean>;
  ready(): Promise<boolean>;
  models(): Promise<Record<string, unknown>[]>;
}

export type DecisionCode =
  | "nsfw_safe"
  | "nsfw_adult"
  | "nsfw_unknown"
  | "nsfw_listed"
  | "nsfw_unreadable"
  | "nsfw_unchecked";

export interface Decision {
  allowed: boolean;
  /** allowed, but a person should look */
  flagged: boolean;
  code: DecisionCode;
  message: string;
  verdict?: Verdict;
  result?: Result;
  error?: NsfwError;
}

export interface GuardOptions {
  /** what an `unknown` verdict does; default "flag" (allowed and flagged) */
  unknown?: "allow" | "refuse" | "flag";
  /** the service down: "open" allows (and flags), "closed" refuses; default "closed" */
  fail?: "open" | "closed";
  model?: string;
}

export declare class Guard {
  constructor(client: Client, options?: GuardOptions);
  check(upload: Source): Promise<Decision>;
  decide(outcome: Result | NsfwError): Decision;
}

export interface ExpressGuardOptions extends GuardOptions {
  guard?: Guard;
  client?: Client;
  /** the multipart field (multer), default "image" */
  field?: string;
}
