/**
 * SIMULATION ONLY — a what-if store latency model for benchmarks (`--store-latency`).
 *
 * Wraps any ObjectStore and delays each GET by a latency drawn from a model, so tail-control
 * features (hedged reads) can be measured on a laptop whose store answers in microseconds. The
 * delay is added below the store client the runtime uses (the wrapped store does the real read),
 * and everything it touches says SIMULATION: a startup log line, the metric
 * `lane_simulation_store_latency_info`, and the benchmark report (which reads that metric).
 *
 * Model grammar: `lognormal:p50=<dur>,p99=<dur>` or `fixed:<dur>`, durations like `2ms`, `800us`,
 * `1.5ms` (a bare number is milliseconds). For a lognormal, ln(latency) ~ N(mu, sigma²) with
 * mu = ln(p50) and sigma = ln(p99 / p50) / z(0.99), so the model's median and P99 are exactly the
 * given ones. Each GET draws independently (a hedged second GET gets a fresh draw, as a request to
 * another S3 front end would).
 */
import type { Registry } from "prom-client";
import { Gauge } from "prom-client";
import { StoreError, type ObjectStore, type StoreGetResult } from "./types";

/** Standard normal quantile at 0.99. */
export const Z99 = 2.3263478740408408;

export type LatencyModel = { readonly kind: "lognormal"; readonly p50Ms: number; readonly p99Ms: number } | { readonly kind: "fixed"; readonly ms: number };

function parseDuration(text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|us|µs|s)?\s*$/.exec(text);
  if (!m) throw new TypeError(`bad duration ${JSON.stringify(text)} (e.g. 2ms, 800us)`);
  const n = Number(m[1]);
  const unit = m[2] ?? "ms";
  return unit === "s" ? n * 1000 : unit === "ms" ? n : n / 1000;
}

/** Parse `lognormal:p50=2ms,p99=12ms` or `fixed:1ms`. Throws TypeError with a readable message. */
export function parseLatencyModel(spec: string): LatencyModel {
  const colon = spec.indexOf(":");
  const kind = (colon < 0 ? spec : spec.slice(0, colon)).trim();
  const rest = colon < 0 ? "" : spec.slice(colon + 1);
  if (kind === "fixed") return { kind, ms: parseDuration(rest) };
  if (kind !== "lognormal") throw new TypeError(`unknown latency model ${JSON.stringify(kind)} (lognormal | fixed)`);
  const params: Record<string, number> = {};
  for (const part of rest.split(",")) {
    const [k, v] = part.split("=");
    if (!k || v === undefined) throw new TypeError(`bad lognormal parameter ${JSON.stringify(part)}`);
    params[k.trim()] = parseDuration(v);
  }
  const p50Ms = params.p50;
  const p99Ms = params.p99;
  if (p50Ms === undefined || p99Ms === undefined) throw new TypeError("lognormal needs p50=… and p99=…");
  if (!(p50Ms > 0) || !(p99Ms >= p50Ms)) throw new TypeError("lognormal needs 0 < p50 <= p99");
  return { kind: "lognormal", p50Ms, p99Ms };
}

export function describeModel(model: LatencyModel): string {
  return model.kind === "fixed" ? `fixed:${model.ms}ms` : `lognormal:p50=${model.p50Ms}ms,p99=${model.p99Ms}ms`;
}

/** A latency sampler (milliseconds) for a model. Box–Muller for the normal draw. */
export function latencySampler(model: LatencyModel, random: () => number = Math.random): () => number {
  if (model.kind === "fixed") return () => model.ms;
  const mu = Math.log(model.p50Ms);
  const sigma = Math.log(model.p99Ms / model.p50Ms) / Z99;
  return () => {
    const u1 = 1 - random(); // (0, 1]
    const u2 = random();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return Math.exp(mu + sigma * z);
  };
}

export interface SimulatedLatencyOptions {
  readonly model: LatencyModel;
  /** Uniform [0, 1) draws; pass a seeded one (dev/random.ts) for reproducible runs. @default Math.random */
  readonly random?: () => number;
  /** Registers `lane_simulation_store_latency_info{model}` = 1 here (the runtime's registry). */
  readonly registry?: Registry;
  /** Timer seam (tests). */
  readonly setTimer?: (fn: () => void, ms: number) => unknown;
  readonly clearTimer?: (handle: unknown) => void;
}

export class SimulatedLatencyStore implements ObjectStore {
  /** Always true: lets reports and logs say SIMULATION without guessing. */
  readonly simulation = true;
  readonly description: string;
  private readonly sample: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(
    private readonly inner: ObjectStore,
    options: SimulatedLatencyOptions,
  ) {
    this.description = `SIMULATION ${describeModel(options.model)}`;
    this.sample = latencySampler(options.model, options.random ?? Math.random);
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
    if (options.registry) {
      const existing = options.registry.getSingleMetric("lane_simulation_store_latency_info");
      const gauge =
        (existing as Gauge<"model"> | undefined) ??
        new Gauge({
          name: "lane_simulation_store_latency_info",
          help: "SIMULATION: 1 when store GETs are delayed by a what-if latency model (--store-latency); never in production",
          labelNames: ["model"] as const,
          registers: [options.registry],
        });
      gauge.set({ model: describeModel(options.model) }, 1);
    }
  }

  /** Draw one simulated delay (ms). */
  nextDelayMs(): number {
    return this.sample();
  }

  async get(key: string, signal?: AbortSignal): Promise<StoreGetResult> {
    const delay = this.sample();
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new StoreError("timeout", `GET ${key}: aborted by the caller`));
        return;
      }
      const onAbort = (): void => {
        this.clearTimer(handle);
        reject(new StoreError("timeout", `GET ${key}: aborted by the caller`));
      };
      // Node timers have 1 ms granularity and truncate fractions, which would shift the whole
      // model down by ~0.5 ms; rounding keeps the median where the model puts it.
      const handle = this.setTimer(
        () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        Math.max(1, Math.round(delay)),
      );
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    return this.inner.get(key, signal);
  }

  ping(signal?: AbortSignal): Promise<void> {
    return this.inner.ping(signal);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
