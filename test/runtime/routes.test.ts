/**
 * The route table (runtime/routes.ts): every route's method, role, grammar and label; 404 for a
 * path no route has, 405 + Allow for a known shape with the wrong method; routes told apart by
 * method and shape, never by an entity's value; docs/openapi.yaml lists exactly the table.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { matchRoute, ROUTES, type Grammar, type RouteDef } from "../../runtime/routes";
import { parseReadRequest, type RawReadRequest } from "../../wire/request";
import { parseWriteRequest } from "../../wire/write";
import { parseFeastRequest } from "../../wire/feast";
import { LaneError } from "../../wire/errors";
import { DEFAULT_REGISTRY } from "../../registry/views";

const VIEW = DEFAULT_REGISTRY.names[0]!;
const doc = parseYaml(readFileSync(join(__dirname, "../../docs/openapi.yaml"), "utf8")) as { paths: Record<string, Record<string, { operationId?: string }>> };
const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

const route = (method: string, path: string): RouteDef => {
  const m = matchRoute(method, path);
  if (m.kind !== "route") throw new Error(`${method} ${path}: ${m.kind}`);
  return m.route;
};

describe("runtime/routes: the one route table", () => {
  it.each([
    ["GET", `/v1/features/${VIEW}/user_1`, "getFeatures", "reader", "read", "features"],
    ["POST", `/v1/features/${VIEW}/batch`, "getFeaturesBatch", "reader", "batch_read", "batch"],
    ["POST", `/v1/features/${VIEW}`, "pushRow", "writer", "push", "push"],
    ["POST", `/v1/features/${VIEW}/_push`, "pushRows", "writer", "push", "push"],
    ["DELETE", `/v1/features/${VIEW}/user_1`, "deleteEntity", "writer", "push", "push"],
    ["POST", "/get-online-features", "feastGetOnlineFeatures", "reader", "feast", "feast"],
    ["GET", "/v1/signer", "getSigner", "reader", "none", "signer"],
    ["GET", "/v1/attestation", "getAttestation", "reader", "none", "attestation"],
    ["GET", "/v1/views", "listViews", "reader", "none", "views"],
    ["GET", `/v1/views/${VIEW}`, "getView", "reader", "none", "views"],
    ["PUT", "/v1/registry", "publishRegistry", "admin", "none", "registry"],
    ["GET", "/health/live", "live", "open", "none", "live"],
    ["GET", "/health/ready", "ready", "open", "none", "ready"],
    ["GET", "/metrics", "metrics", "admin", "none", "metrics"],
  ])("%s %s → %s (role %s, grammar %s, label %s)", (method, path, operationId, access, grammar, label) => {
    expect(route(method, path)).toMatchObject({ method, operationId, access, grammar, label });
  });

  it("has every route above and no other (a new route gets a row here)", () => {
    expect(ROUTES.map((r) => r.operationId).sort()).toEqual(
      [
        "deleteEntity",
        "feastGetOnlineFeatures",
        "getAttestation",
        "getFeatures",
        "getFeaturesBatch",
        "getSigner",
        "getView",
        "listViews",
        "live",
        "metrics",
        "publishRegistry",
        "pushRow",
        "pushRows",
        "ready",
      ].sort(),
    );
    // One entry per method + path, one per operation id.
    expect(new Set(ROUTES.map((r) => `${r.method} ${r.path}`)).size).toBe(ROUTES.length);
    expect(new Set(ROUTES.map((r) => r.operationId)).size).toBe(ROUTES.length);
  });

  it("tells routes apart by method and shape, never by an entity's value", () => {
    // Entities named like the literal segments are readable with GET.
    expect(matchRoute("GET", `/v1/features/${VIEW}/batch`)).toMatchObject({ kind: "route", route: { operationId: "getFeatures" }, params: { view: VIEW, entity: "batch" } });
    expect(matchRoute("GET", `/v1/features/${VIEW}/_push`)).toMatchObject({ kind: "route", route: { operationId: "getFeatures" }, params: { entity: "_push" } });
    // Parameters are raw segments: percent-encoded slashes stay inside one.
    expect(matchRoute("GET", `/v1/features/${VIEW}/a%2Fb`)).toMatchObject({ kind: "route", params: { entity: "a%2Fb" } });
  });

  it.each([
    ["/v2/nothing"],
    ["/"],
    ["/v1/features"],
    ["/v1/features/"],
    [`/v1/features/${VIEW}/a/b`],
    [`/v1/features/${VIEW}/e/`],
    [`//v1/features/${VIEW}/e`],
    ["/metrics/"],
    ["/admin/reload"],
    ["*"],
  ])("404 for %s (no route has that shape)", (path) => {
    expect(matchRoute("GET", path)).toEqual({ kind: "no_route" });
  });

  it.each([
    ["PATCH", `/v1/features/${VIEW}/e`, ["DELETE", "GET"]],
    ["POST", `/v1/features/${VIEW}/e`, ["DELETE", "GET"]],
    ["PUT", `/v1/features/${VIEW}/batch`, ["DELETE", "GET", "POST"]],
    ["GET", `/v1/features/${VIEW}`, ["POST"]],
    ["GET", "/get-online-features", ["POST"]],
    ["POST", "/v1/signer", ["GET"]],
    ["HEAD", "/health/live", ["GET"]],
    ["OPTIONS", "/metrics", ["GET"]],
  ])("405 for %s %s, Allow: %j", (method, path, allow) => {
    expect(matchRoute(method, path)).toEqual({ kind: "wrong_method", allow });
  });

  // The grammar each route names accepts that route's requests (the one both ends run, wire/).
  const GRAMMARS: Record<Exclude<Grammar, "none">, (raw: RawReadRequest) => unknown> = {
    read: (raw) => parseReadRequest(raw, DEFAULT_REGISTRY),
    batch_read: (raw) => parseReadRequest(raw, DEFAULT_REGISTRY),
    push: (raw) => parseWriteRequest(raw, DEFAULT_REGISTRY),
    feast: (raw) => parseFeastRequest(raw, DEFAULT_REGISTRY),
  };
  const feature = DEFAULT_REGISTRY.get(VIEW)!.featureNames[0]!;
  const json = (value: unknown) => ({ contentType: "application/json", body: Buffer.from(JSON.stringify(value)) });
  const samples: Record<string, RawReadRequest> = {
    getFeatures: { method: "GET", path: `/v1/features/${VIEW}/batch`, query: `?features=${feature}` },
    getFeaturesBatch: { method: "POST", path: `/v1/features/${VIEW}/batch`, query: "", ...json({ entities: ["a", "b"] }) },
    pushRow: { method: "POST", path: `/v1/features/${VIEW}`, query: "", ...json({ entity: "a", event_time: Date.now() - 1000, features: {} }) },
    pushRows: { method: "POST", path: `/v1/features/${VIEW}/_push`, query: "", ...json({ rows: [{ entity: "a", event_time: Date.now() - 1000, features: {} }] }) },
    deleteEntity: { method: "DELETE", path: `/v1/features/${VIEW}/a`, query: "" },
    feastGetOnlineFeatures: {
      method: "POST",
      path: "/get-online-features",
      query: "",
      ...json({ features: [`${VIEW}:${feature}`], entities: { [DEFAULT_REGISTRY.get(VIEW)!.entityKey]: ["a"] } }),
    },
  };
  it.each(ROUTES.filter((r) => r.grammar !== "none").map((r) => [r.operationId, r] as const))(
    "%s: its grammar parses its requests and refuses undeclared query parameters",
    (id, r) => {
      const sample = samples[id];
      expect(sample).toBeDefined();
      expect(matchRoute(sample!.method, sample!.path)).toMatchObject({ kind: "route", route: { operationId: id } });
      const parse = GRAMMARS[r.grammar as Exclude<Grammar, "none">];
      expect(() => parse(sample!)).not.toThrow();
      expect(() => parse({ ...sample!, query: "?undeclared=1" })).toThrow(expect.objectContaining({ code: "bad_query", status: 400 }));
      expect(() => parse({ ...sample!, query: "?%zz" })).toThrow(LaneError);
    },
  );
});

describe("docs/openapi.yaml lists exactly the route table", () => {
  const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`),
  );
  const table = ROUTES.map((r) => `${r.method} ${r.path} ${r.operationId}`);

  it("every route is documented, with its operation id", () => {
    expect(table.filter((t) => !documented.includes(t))).toEqual([]);
  });

  it("every documented operation is a route", () => {
    expect(documented.filter((d) => !table.includes(d))).toEqual([]);
    expect(documented.length).toBeGreaterThan(5);
  });
});
