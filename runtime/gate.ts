/**
 * The gate every request passes before the reader does any work (called first in
 * ReaderService.handle): access control (runtime/auth), per-key rate limit (runtime/rate-limit),
 * load shedding (runtime/admission). Order: 401/403 → 429 → 503 overloaded, so unauthenticated
 * or throttled callers never take an in-flight slot. Health endpoints pass untouched.
 *
 * Keys and limits can be swapped at runtime (SIGHUP → reload()) without touching requests in
 * flight: a request holds the ticket it was admitted with.
 */
import { lifecycleLogger } from "./log";
import type { LaneRequest, LaneResponse } from "./http-types";
import type { Logger } from "pino";
import { Counter, Gauge, Registry } from "prom-client";
import { Admission } from "./admission";
import { ApiKeyRecord, KeyRing, loadKeys, presentedKey, RateLimitSpec, roleAllows } from "./auth";
import type { RuntimeConfig } from "./config";
import { RateLimiter } from "./rate-limit";
import type { RouteDef } from "./routes";
import { LaneError, type ErrorCode } from "../wire/errors";

export interface GateOptions {
  /** null = access control off (no keys configured): every route is open. */
  readonly keys: readonly ApiKeyRecord[] | null;
  /** Limit for keys that have no rateLimit of their own; undefined = none. */
  readonly defaultRateLimit?: RateLimitSpec;
  readonly maxInFlight: number;
  /** Seconds a shed caller is told to wait. @default 1 */
  readonly shedRetryAfterSeconds?: number;
  readonly registry?: Registry;
  readonly logger?: Logger;
  /** Let loopback clients scrape /metrics without a key. @default false */
  readonly loopbackMetrics?: boolean;
}

export interface GateTicket {
  /** Id of the API key the request authenticated with (never the key). */
  readonly keyId?: string;
  release(): void;
}

const OPEN: GateTicket = { release() {} };

export class RequestGate {
  private ring: KeyRing | null;
  private defaultRateLimit?: RateLimitSpec;
  private readonly limiter = new RateLimiter();
  readonly admission: Admission;
  private readonly shedRetryAfter: number;
  private drainingFlag = false;
  private readonly refused?: Counter<"code">;
  private readonly loopbackMetrics: boolean;

  constructor(options: GateOptions) {
    this.loopbackMetrics = options.loopbackMetrics ?? false;
    this.ring = options.keys ? new KeyRing(options.keys) : null;
    this.defaultRateLimit = options.defaultRateLimit;
    this.admission = new Admission(options.maxInFlight);
    this.shedRetryAfter = options.shedRetryAfterSeconds ?? 1;
    if (options.registry) {
      const admission = this.admission;
      new Gauge({
        name: "lane_in_flight_requests",
        help: "Requests admitted and not yet answered",
        registers: [options.registry],
        collect() {
          this.set(admission.inFlight);
        },
      });
      new Gauge({
        name: "lane_max_in_flight_requests",
        help: "Admission limit (--max-in-flight)",
        registers: [options.registry],
        collect() {
          this.set(admission.maxInFlight);
        },
      });
      this.refused = new Counter({
        name: "lane_gate_refused_total",
        help: "Requests refused before any work: unauthenticated, forbidden, rate_limited, overloaded",
        labelNames: ["code"] as const,
        registers: [options.registry],
      });
    }
  }

  get accessControl(): boolean {
    return this.ring !== null;
  }

  get keyCount(): number {
    return this.ring?.size ?? 0;
  }

  /** Swap keys and limits; requests in flight keep their tickets. */
  reload(keys: readonly ApiKeyRecord[] | null, defaultRateLimit?: RateLimitSpec): void {
    this.ring = keys ? new KeyRing(keys) : null;
    this.defaultRateLimit = defaultRateLimit;
    this.limiter.retain((keys ?? []).map((k) => k.id));
  }

  /** After SIGTERM: answers carry `Connection: close` so keep-alive clients move elsewhere. */
  startDraining(): void {
    this.drainingFlag = true;
  }

  get draining(): boolean {
    return this.drainingFlag;
  }

  get inFlight(): number {
    return this.admission.inFlight;
  }

  private refuse(code: ErrorCode, message?: string, retryAfter?: number): never {
    this.refused?.inc({ code });
    throw new LaneError(code, message, retryAfter);
  }

  /** Admit a request to a route (runtime/routes.ts) or throw the LaneError to answer (401, 403, 429, 503). */
  enter(req: LaneRequest, res: LaneResponse, route: Pick<RouteDef, "access" | "unshed" | "loopbackOpen">): GateTicket {
    if (this.drainingFlag) res.setHeader("connection", "close");
    const need = route.access;
    if (need === "open") return OPEN;
    // --loopback-metrics on (the host unit): the host's own scrapers (CloudWatch agent, histogram
    // exporter) read /metrics over loopback without a key — metrics carry no values or keys, and the
    // host is trusted for availability only. Off by default (the local lane is all loopback).
    if (this.loopbackMetrics && route.loopbackOpen === true && isLoopback(req.socket.remoteAddress)) return OPEN;
    let keyId: string | undefined;
    const ring = this.ring;
    if (ring) {
      const presented = presentedKey(req.headers);
      if (presented === undefined) {
        res.setHeader("www-authenticate", 'Bearer realm="express-lane"');
        this.refuse("unauthenticated");
      }
      const record = ring.authenticate(presented);
      if (!record) {
        res.setHeader("www-authenticate", 'Bearer realm="express-lane", error="invalid_token"');
        this.refuse("unauthenticated", "unknown API key");
      }
      if (!roleAllows(record.role, need)) this.refuse("forbidden", `role ${record.role} may not call this route (needs ${need})`);
      keyId = record.id;
      const retryAfter = this.limiter.check(record.id, record.rateLimit ?? this.defaultRateLimit);
      if (retryAfter !== null) this.refuse("rate_limited", undefined, retryAfter);
    }
    // Scrapes stay possible under overload (cheap, and the moment they matter most).
    if (route.unshed === true) return { keyId, release() {} };
    if (!this.admission.tryEnter()) this.refuse("overloaded", undefined, this.shedRetryAfter);
    let released = false;
    return {
      keyId,
      release: () => {
        if (released) return;
        released = true;
        this.admission.leave();
      },
    };
  }
}

/** Build the gate from the runtime config; `reload` re-reads the keys source (SIGHUP). */
export async function gateFromConfig(
  config: Pick<RuntimeConfig, "apiKeys" | "ssmEndpoint" | "region" | "defaultRateLimit" | "defaultBurst" | "maxInFlight"> & { readonly loopbackMetrics?: boolean },
  registry?: Registry,
  logger?: Logger,
): Promise<{ gate: RequestGate; reload: () => Promise<boolean> }> {
  const defaultRateLimit = config.defaultRateLimit > 0 ? { rps: config.defaultRateLimit, burst: config.defaultBurst } : undefined;
  const source = config.apiKeys;
  const load = async (): Promise<ApiKeyRecord[] | null> =>
    source === undefined || source === "" ? null : loadKeys(source, { region: config.region, ssmEndpoint: config.ssmEndpoint });
  const keys = await load();
  const gate = new RequestGate({ keys, defaultRateLimit, maxInFlight: config.maxInFlight, registry, logger, loopbackMetrics: config.loopbackMetrics });
  logger?.info({ accessControl: keys !== null, keys: keys?.length ?? 0, maxInFlight: config.maxInFlight }, "gate configured");
  const reload = async (): Promise<boolean> => {
    try {
      const next = await load();
      gate.reload(next, defaultRateLimit);
      if (logger) lifecycleLogger(logger).info({ event: "keys_reloaded", keys: next?.length ?? 0 }, "keys reloaded");
      return true;
    } catch (err) {
      logger?.error({ err: { message: (err as Error).message } }, "keys reload failed; keeping the previous keys");
      return false;
    }
  };
  return { gate, reload };
}

function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127."));
}
