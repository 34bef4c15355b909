/**
 * The one error catalog (wire/errors.ts): every code the source answers with is in it, every code
 * in it is documented — docs/operations.md's error table with the catalog's status, and
 * docs/openapi.yaml's ErrorCode / EntityErrorCode enums — both ways; statuses are set nowhere else.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ERROR_CATALOG, entityMessage, isErrorCode, LaneError, statusOf, type EntityErrorCode, type ErrorCode } from "../../wire/errors";
import type { RowErrorCode } from "../../wire/registry";
import type { WriterAuthCode } from "../../wire/writer-auth";
import type { NameError } from "../../wire/names";
import type { SealFailure } from "../../enclave/seal";
import type { KeyStateError } from "../../enclave/key-state";
import type { CheckpointRefusal } from "../../enclave/checkpoint-state";
import type { SealProvisioningError } from "../../enclave/key-provisioning";
import type { FrameFieldError } from "../../wire/frames";

const ROOT = join(__dirname, "../..");
const CODES = Object.keys(ERROR_CATALOG) as ErrorCode[];

// Error classes that carry their own code unions: the compiler checks each is in the catalog.
type Within<T extends ErrorCode> = T;
export type CatalogCovers = [
  Within<RowErrorCode>,
  Within<WriterAuthCode>,
  Within<NameError["code"]>,
  Within<KeyStateError["code"]>,
  Within<CheckpointRefusal>,
  Within<SealProvisioningError["code"]>,
  Within<FrameFieldError["code"]>,
  Within<SealFailure & EntityErrorCode>,
];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const p = join(dir, name);
    return statSync(join(ROOT, p)).isDirectory() ? sources(p) : name.endsWith(".ts") ? [p] : [];
  });
}
const FILES = ["runtime", "wire", "enclave", "verifier", "sequencer"].flatMap(sources);

describe("wire/errors: the one error catalog", () => {
  it("every code the source throws or replies with is in the catalog", () => {
    const used = new Map<string, string>();
    const patterns = [
      /new LaneError\("([a-z_]+)"/g,
      /errorReply\("([a-z_]+)"/g,
      /refuse\("([a-z_]+)"/g,
      /new RowError\("([a-z_]+)"/g,
      /new WriterAuthError\("([a-z_]+)"/g,
      /new NameError\("([a-z_]+)"/g,
      /new KeyStateError\("([a-z_]+)"/g,
      /new SealProvisioningError\("([a-z_]+)"/g,
      /entityMessage\("([a-z_]+)"/g,
      /error: \{ code: "([a-z_]+)"/g,
    ];
    for (const file of FILES) {
      const text = readFileSync(join(ROOT, file), "utf8");
      for (const re of patterns) for (const m of text.matchAll(re)) used.set(m[1]!, file);
    }
    expect(used.size).toBeGreaterThan(40); // the scan sees the source
    expect([...used].filter(([code]) => !isErrorCode(code)).map(([code, file]) => `${code} (${file})`)).toEqual([]);
  });

  it("sets HTTP statuses only in the catalog (no status literals next to error codes in runtime/, wire/, enclave/)", () => {
    const offenders: string[] = [];
    for (const file of FILES.filter((f) => f !== "wire/errors.ts")) {
      const text = readFileSync(join(ROOT, file), "utf8");
      for (const re of [/new \w*Error\(\s*\d{3}\b/g, /\bcode: "[a-z_]+", (?:message: [^}]+, )?status: \d{3}/g, /\(\s*"[a-z_]+",\s*[45]\d\d\s*,/g]) {
        for (const m of text.matchAll(re)) offenders.push(`${file}: ${m[0]}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("LaneError takes status and Retry-After from the catalog; details replace the template", () => {
    expect(new LaneError("not_found_route")).toMatchObject({ code: "not_found_route", status: 404, message: "no such route" });
    expect(new LaneError("bad_query", "features given more than once")).toMatchObject({ status: 400, message: "features given more than once" });
    expect(new LaneError("signer_unavailable").retryAfterSeconds).toBe(1);
    expect(new LaneError("rate_limited", undefined, 7).retryAfterSeconds).toBe(7);
    expect(new LaneError("bad_body").retryAfterSeconds).toBeUndefined();
    expect(statusOf("no_such_code")).toBe(500);
    for (const code of CODES) {
      const spec = ERROR_CATALOG[code];
      expect([code, spec.status >= 400 && spec.status < 600]).toEqual([code, true]);
      expect(spec.message.length).toBeGreaterThan(0);
    }
  });

  it("per-entity refusals have fixed texts (signed answers carry them)", () => {
    const entityCodes = CODES.filter((c) => "entity" in ERROR_CATALOG[c]) as EntityErrorCode[];
    expect(entityCodes.sort()).toEqual(
      [
        "corrupt_object",
        "high_water_full",
        "key_directory_expired",
        "not_found",
        "object_mismatch",
        "object_withheld",
        "rolled_back",
        "seal_invalid",
        "seal_key_unavailable",
        "seal_missing",
        "seal_unknown_key",
      ].sort(),
    );
    for (const c of entityCodes) expect(entityMessage(c)).toMatch(/^[a-z]/);
  });
});

describe("the error docs match the catalog, both ways", () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const openapi = parseYaml(readFileSync(join(ROOT, "docs/openapi.yaml"), "utf8")) as any;

  it("docs/openapi.yaml: ErrorCode lists every code; EntityErrorCode every per-entity refusal", () => {
    const errorCodes = new Set<string>(openapi.components.schemas.ErrorCode.enum);
    const entityCodes = new Set<string>(openapi.components.schemas.EntityErrorCode.enum);
    // Codes that fail a whole request: all but the per-entity-only ones (whose status is the 502/404 of a refused read).
    // The sequencer is another service (its endpoint is documented in docs/operations.md), not the runtime's API.
    const requestCodes: string[] = CODES.filter(
      (c) => ERROR_CATALOG[c].from !== "sequencer" && (!("entity" in ERROR_CATALOG[c]) || (ERROR_CATALOG[c].status !== 502 && c !== "not_found")),
    );
    expect(requestCodes.filter((c) => !errorCodes.has(c))).toEqual([]);
    expect([...errorCodes].filter((c) => !requestCodes.includes(c))).toEqual([]);
    const catalogEntity: string[] = CODES.filter((c) => "entity" in ERROR_CATALOG[c]);
    expect(catalogEntity.filter((c) => !entityCodes.has(c))).toEqual([]);
    expect([...entityCodes].filter((c) => !catalogEntity.includes(c))).toEqual([]);
  });

  it("docs/operations.md: every code is in the error table with its catalog status, and the table has no other", () => {
    const text = readFileSync(join(ROOT, "docs/operations.md"), "utf8");
    const section = text.slice(text.indexOf("## Error codes"), text.indexOf("\n## ", text.indexOf("## Error codes") + 1));
    const rows = section.split("\n").filter((l) => /^\| \d{3} \|/.test(l));
    expect(rows.length).toBeGreaterThan(15);
    const documented = new Map<string, Set<number>>();
    const problems: string[] = [];
    for (const row of rows) {
      const [, status, codes] = row.split("|").map((c) => c.trim());
      for (const m of codes!.matchAll(/`([a-z_*]+)`/g)) {
        const code = m[1]!;
        if (!isErrorCode(code)) {
          problems.push(`${code}: in the table, not in the catalog`);
          continue;
        }
        const spec = ERROR_CATALOG[code];
        // A per-entity refusal makes a single read 502 (the signed answer); not_found is 404.
        const allowed = "entity" in spec ? [spec.status, 502] : [spec.status];
        if (!allowed.includes(Number(status))) problems.push(`${code}: table says ${status}, catalog ${spec.status}`);
        documented.set(code, (documented.get(code) ?? new Set()).add(Number(status)));
      }
    }
    for (const code of CODES) if (!documented.has(code)) problems.push(`${code}: in the catalog, not in the table`);
    for (const code of CODES)
      if ("entity" in ERROR_CATALOG[code] && code !== "not_found" && !documented.get(code)?.has(502)) problems.push(`${code}: per-entity refusal missing from the 502 row`);
    expect(problems).toEqual([]);
  });
});
