/**
 * Request ids: a sane inbound `x-request-id` is kept (so a caller's trace id follows the request
 * through our logs), anything else is replaced by a fresh UUID. Returned in `x-request-id`.
 */
import { randomUUID } from "node:crypto";
import type { LaneRequest } from "./http-types";

/** Printable, no spaces or quotes, short: safe to log and to echo in a header. */
const SANE_ID = /^[A-Za-z0-9._:/+=-]{1,128}$/;

export function requestIdOf(req: LaneRequest): string {
  const inbound = req.headers["x-request-id"];
  return typeof inbound === "string" && SANE_ID.test(inbound) ? inbound : randomUUID();
}
