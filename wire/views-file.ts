/**
 * The views file: how a project declares its feature views (views.yaml, or JSON), and the form of
 * the lane's pinned default (registry/views.json). One module reads it for every party — `apply`
 * (via cli/views-yaml.ts, which adds file:line locations), the signer bundle (the default) — and
 * turns it into the registry document's view list (wire/registry-document.ts).
 *
 *   views:
 *     - name: merchant_risk            # [a-z][a-z0-9_]*
 *       entity_key: merchant_id        # the entity column in source files
 *       max_age: 1h                    # "<n>s|m|h|d" or integer seconds
 *       max_staleness: 60s             # optional (default 60s): consumers reject older fresh_as_of (docs/trust.md P8)
 *       owner: risk-platform@example.com
 *       description: Hourly merchant risk signals
 *       features:
 *         - {name: chargeback_rate, type: float, description: …}
 *         - {name: risk_embedding, type: float_array, length: 4}
 *
 * Problems carry the path of the offending value (["views", 0, "features", 2, "type"]) so a YAML
 * reader can point at its line. No I/O and no YAML dependency here (the enclave bundles this).
 */
import { FEATURE_TYPES, RegistryError, type FeatureType } from "./registry";
import { registryFromViews, type FeatureDocument, type ViewDocument } from "./registry-document";

export type ValuePath = ReadonlyArray<string | number>;

export interface ViewsProblem {
  readonly path: ValuePath;
  readonly message: string;
}

export class ViewsFileError extends Error {
  constructor(
    readonly problems: readonly ViewsProblem[],
    /** Problems rendered for people, e.g. "views.yaml:12:9: views[0].features[2].type: …". */
    readonly lines: readonly string[],
  ) {
    super(`invalid views file:\n  - ${lines.join("\n  - ")}`);
    this.name = "ViewsFileError";
  }
}

const DURATION = /^(\d{1,10})\s*(s|m|h|d)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "7d", "12h", "30m", "3600s" or an integer number of seconds. */
export function parseMaxAge(value: unknown): number | null {
  if (typeof value === "number") return Number.isSafeInteger(value) && value > 0 ? value : null;
  if (typeof value !== "string") return null;
  const m = DURATION.exec(value.trim());
  if (!m) return null;
  return Number(m[1]) * UNIT_SECONDS[m[2]!]!;
}

/** The shortest exact spelling of a max age (for diffs and GET /v1/views). */
export function formatMaxAge(seconds: number): string {
  for (const [unit, n] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const)
    if (seconds % n === 0) return `${seconds / n}${unit}`;
  return `${seconds}s`;
}

export function pathText(path: ValuePath): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A parsed views file value → views in document form. Throws ViewsFileError with every problem;
 * `locate` turns a value path into "file:line:col" when the reader knows it.
 */
export function viewsFromFileValue(value: unknown, source: string, locate: (path: ValuePath) => string = () => source): ViewDocument[] {
  const problems: ViewsProblem[] = [];
  const push = (path: ValuePath, message: string): void => {
    problems.push({ path, message });
  };
  const views: ViewDocument[] = [];
  if (!isRecord(value) || !Array.isArray(value.views)) {
    push([], "the file must be a mapping with a `views:` list");
  } else {
    for (const k of Object.keys(value)) if (k !== "views") push([k], `unknown top-level field ${JSON.stringify(k)} (expected only views)`);
    (value.views as unknown[]).forEach((raw, i) => {
      const at: ValuePath = ["views", i];
      if (!isRecord(raw)) return push(at, "a view must be a mapping");
      for (const k of Object.keys(raw))
        if (!["name", "entity_key", "max_age", "max_staleness", "owner", "description", "features"].includes(k)) push([...at, k], `unknown field ${JSON.stringify(k)}`);
      const text = (field: string): string => {
        const v = raw[field];
        if (typeof v !== "string" || v.trim() === "") push([...at, field], `${field} is required (a string)`);
        return typeof v === "string" ? v : "";
      };
      const name = text("name");
      const entity_key = text("entity_key");
      const owner = text("owner");
      const description = text("description");
      const maxAge = parseMaxAge(raw.max_age);
      if (maxAge === null) push([...at, "max_age"], 'max_age must be a duration like "7d", "12h", "30m", "3600s" or integer seconds');
      const maxStaleness = raw.max_staleness === undefined ? undefined : parseMaxAge(raw.max_staleness);
      if (maxStaleness === null) push([...at, "max_staleness"], 'max_staleness must be a duration like "60s", "5m" or integer seconds');
      const features: FeatureDocument[] = [];
      if (!Array.isArray(raw.features) || raw.features.length === 0) push([...at, "features"], "features must be a non-empty list");
      else
        (raw.features as unknown[]).forEach((f, j) => {
          const fat: ValuePath = [...at, "features", j];
          if (!isRecord(f)) return push(fat, "a feature must be a mapping {name, type}");
          for (const k of Object.keys(f)) if (!["name", "type", "length", "description"].includes(k)) push([...fat, k], `unknown field ${JSON.stringify(k)}`);
          if (typeof f.name !== "string") push([...fat, "name"], "name is required (a string)");
          if (typeof f.type !== "string" || !(FEATURE_TYPES as readonly string[]).includes(f.type)) push([...fat, "type"], `type must be one of ${FEATURE_TYPES.join(", ")}`);
          if (f.length !== undefined && (typeof f.length !== "number" || !Number.isInteger(f.length))) push([...fat, "length"], "length must be an integer");
          if (f.description !== undefined && typeof f.description !== "string") push([...fat, "description"], "description must be a string");
          features.push({
            name: String(f.name ?? ""),
            type: f.type as FeatureType,
            ...(typeof f.length === "number" ? { length: f.length } : {}),
            ...(typeof f.description === "string" ? { description: f.description } : {}),
          });
        });
      views.push({ name, entity_key, max_age_seconds: maxAge ?? 0, ...(typeof maxStaleness === "number" ? { max_staleness_seconds: maxStaleness } : {}), owner, description, features });
    });
  }
  if (problems.length === 0) {
    // Semantics (names, types, collisions, lengths, duplicates): the registry's own validation.
    try {
      registryFromViews(views);
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      for (const message of err.problems) {
        const m = /^view "([^"]*)"(?: feature "([^"]*)")?/.exec(message);
        const i = m ? views.findIndex((v) => v.name === m[1]) : -1;
        const j = m?.[2] !== undefined && i >= 0 ? views[i]!.features.findIndex((f) => f.name === m[2]) : -1;
        push(i < 0 ? ["views"] : j < 0 ? ["views", i] : ["views", i, "features", j], message);
      }
    }
  }
  if (problems.length > 0)
    throw new ViewsFileError(
      problems,
      problems.map((p) => `${locate(p.path)}: ${p.path.length ? `${pathText(p.path)}: ` : ""}${p.message}`),
    );
  return views;
}

/** Views in document form → the views file value (max_age spelled as a duration). */
export function viewsFileValue(views: readonly ViewDocument[]): { views: unknown[] } {
  return {
    views: views.map((v) => ({
      name: v.name,
      entity_key: v.entity_key,
      max_age: formatMaxAge(v.max_age_seconds),
      ...(v.max_staleness_seconds !== undefined ? { max_staleness: formatMaxAge(v.max_staleness_seconds) } : {}),
      owner: v.owner,
      description: v.description,
      features: v.features,
    })),
  };
}
