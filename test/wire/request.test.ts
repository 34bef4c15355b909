import { canonicalEntity, NameError } from "../../wire/names";
import { jsonObjectBody, parseReadRequest as parseWith, type RawReadRequest } from "../../wire/request";
import { LaneError } from "../../wire/errors";
import { parseFeastRequest } from "../../wire/feast";
import { parseWriteRequest, writeTarget } from "../../wire/write";
import { validateFlatRow, validatePushRow } from "../../wire/registry";
import { DEFAULT_REGISTRY } from "../../registry/views";

const parseReadRequest = (raw: RawReadRequest) => parseWith(raw, DEFAULT_REGISTRY);

const view = DEFAULT_REGISTRY.all[0]!;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe("one entity-key rule (wire/names canonicalEntity)", () => {
  it("integers become their decimal text; strings stay; everything else is refused with one error", () => {
    expect(canonicalEntity(42)).toBe("42");
    expect(canonicalEntity(-7)).toBe("-7");
    expect(canonicalEntity(12345678901234567890n)).toBe("12345678901234567890");
    expect(canonicalEntity("42")).toBe("42");
    const messages = [1.5, Number.NaN, Number.POSITIVE_INFINITY, true, null, {}, 2 ** 60].map((v) => {
      try {
        canonicalEntity(v);
        return "accepted";
      } catch (err) {
        expect(err).toBeInstanceOf(NameError);
        return (err as Error).message;
      }
    });
    expect(new Set(messages).size).toBe(1);
    expect(messages[0]).toMatch(/string or an integer/);
  });

  it('batch reads, Feast reads, push rows and source rows all canonicalise 42 to "42" and refuse 1.5 alike', () => {
    const batch = parseReadRequest({ method: "POST", path: `/v1/features/${view.name}/batch`, query: "", contentType: "application/json", body: json({ entities: [42, "x"] }) });
    expect(batch.entities).toEqual(["42", "x"]);
    const feast = parseFeastRequest(
      {
        method: "POST",
        path: "/get-online-features",
        query: "",
        contentType: "application/json",
        body: json({ entities: { [view.entityKey]: [42] }, features: [`${view.name}:${view.featureNames[0]}`] }),
      },
      DEFAULT_REGISTRY,
    );
    expect(feast.entities).toEqual(["42"]);
    expect(validatePushRow(view, { entity: 42, event_time: Date.now(), features: {} }).entity).toBe("42");
    expect(validateFlatRow(view, { [view.entityKey]: 42, event_time: Date.now() }, "json").entity).toBe("42");
    const codes: string[] = [];
    try {
      parseReadRequest({ method: "POST", path: `/v1/features/${view.name}/batch`, query: "", contentType: "application/json", body: json({ entities: [1.5] }) });
    } catch (err) {
      codes.push((err as LaneError).code);
    }
    try {
      parseFeastRequest(
        {
          method: "POST",
          path: "/get-online-features",
          query: "",
          contentType: "application/json",
          body: json({ entities: { [view.entityKey]: [true] }, features: [`${view.name}:${view.featureNames[0]}`] }),
        },
        DEFAULT_REGISTRY,
      );
    } catch (err) {
      codes.push((err as LaneError).code);
    }
    expect(() => validatePushRow(view, { entity: 1.5, event_time: Date.now(), features: {} })).toThrow(/string or an integer/);
    expect(codes).toEqual(["bad_entity", "bad_entity"]);
  });
});

describe("routes cannot collide with entity ids", () => {
  it.each(["batch", "_push", "/", "用户-ü", "42"])("GET of entity %j is a read of that entity, never another route", (entity) => {
    const path = `/v1/features/${view.name}/${encodeURIComponent(entity)}`;
    expect(writeTarget("GET", path)).toBeNull();
    const r = parseReadRequest({ method: "GET", path, query: "" });
    expect(r).toMatchObject({ kind: "single", entities: [entity] });
  });

  it("POST …/batch is a batch read, POST …/_push a batch push, DELETE …/{entity} a delete (of any id, batch included)", () => {
    expect(parseReadRequest({ method: "POST", path: `/v1/features/${view.name}/batch`, query: "", contentType: "application/json", body: json({ entities: ["a"] }) }).kind).toBe(
      "batch",
    );
    expect(writeTarget("POST", `/v1/features/${view.name}/_push`)).toEqual({ kind: "batch", view: view.name });
    expect(writeTarget("POST", `/v1/features/${view.name}/batch`)).toBeNull();
    expect(writeTarget("DELETE", `/v1/features/${view.name}/batch`)).toEqual({ kind: "delete", view: view.name, entity: "batch" });
    expect(writeTarget("DELETE", `/v1/features/${view.name}/%2F`)).toEqual({ kind: "delete", view: view.name, entity: "/" });
  });
});

describe("push bodies: mode, event_time_unit, deletes", () => {
  const now = 1_800_000_000_000;
  const push = (body: unknown, path = `/v1/features/${view.name}/_push`, method = "POST") =>
    parseWriteRequest({ method, path, query: "", contentType: "application/json", body: body === undefined ? undefined : json(body) }, DEFAULT_REGISTRY, now);

  it("mode defaults to merge, takes replace, refuses anything else", () => {
    expect(push({ rows: [{ entity: "a", event_time: now, features: {} }] }).mode).toBe("merge");
    expect(push({ rows: [{ entity: "a", event_time: now, features: {} }], mode: "replace" }).mode).toBe("replace");
    expect(() => push({ rows: [{ entity: "a", event_time: now, features: {} }], mode: "upsert" })).toThrow(/mode must be one of merge, replace/);
    expect(push({ entity: "a", event_time: now, features: {}, mode: "replace" }, `/v1/features/${view.name}`).mode).toBe("replace");
  });

  it("event_time_unit s|ms|us|ns scales numeric times; without it, seconds are refused as implausible with a hint", () => {
    const t = (event_time: unknown, event_time_unit?: string) => {
      const row = push({ rows: [{ entity: "a", event_time, features: {} }], ...(event_time_unit ? { event_time_unit } : {}) }).rows[0]!;
      return row.ok ? row.event_time : row.error.code;
    };
    expect(t(now / 1000, "s")).toBe(now);
    expect(t(now, "ms")).toBe(now);
    expect(t(now * 1000, "us")).toBe(now);
    expect(t(String(BigInt(now) * 1_000_000n), "ns")).toBe(now);
    expect(t("2027-01-15T08:00:00Z", "s")).toBe(Date.parse("2027-01-15T08:00:00Z"));
    expect(t(now / 1000)).toBe("implausible_event_time");
    expect(() => push({ rows: [{ entity: "a", event_time: now, features: {} }], event_time_unit: "minutes" })).toThrow(/event_time_unit/);
  });

  it("a delete row, and DELETE with or without a body", () => {
    expect(push({ rows: [{ entity: "a", event_time: now, delete: true }] }).rows[0]).toMatchObject({ ok: true, deleted: true, features: {} });
    expect(push({ rows: [{ entity: "a", event_time: now, delete: true, features: { x: 1 } }] }).rows[0]).toMatchObject({ ok: false, error: { code: "bad_row" } });
    expect(push(undefined, `/v1/features/${view.name}/batch`, "DELETE")).toMatchObject({ kind: "delete", rows: [{ ok: true, entity: "batch", event_time: now, deleted: true }] });
    expect(push({ event_time: now - 5 }, `/v1/features/${view.name}/u1`, "DELETE").rows[0]).toMatchObject({ ok: true, entity: "u1", event_time: now - 5, deleted: true });
    expect(() => push({ event_time: now, features: {} }, `/v1/features/${view.name}/u1`, "DELETE")).toThrow(/unknown field/);
  });
});

describe("jsonObjectBody (batch read, push and Feast bodies)", () => {
  const body = (text: string, contentType = "application/json") => ({ contentType, body: Buffer.from(text) });
  const codeOf = (f: () => unknown): string => {
    try {
      f();
      return "accepted";
    } catch (err) {
      return (err as LaneError).code;
    }
  };

  it("returns the object; refuses other media types, oversized, non-JSON and non-object bodies with their codes", () => {
    expect(jsonObjectBody(body('{"a":1}', "Application/JSON; charset=utf-8"), { what: "b", maxBytes: 100 })).toEqual({ a: 1 });
    expect(codeOf(() => jsonObjectBody(body("{}", "text/plain"), { what: "b", maxBytes: 100 }))).toBe("unsupported_media_type");
    expect(codeOf(() => jsonObjectBody(body(" ".repeat(101)), { what: "b", maxBytes: 100 }))).toBe("body_too_large");
    expect(codeOf(() => jsonObjectBody(body("{"), { what: "b", maxBytes: 100 }))).toBe("bad_body");
    expect(codeOf(() => jsonObjectBody(body("[1]"), { what: "b", maxBytes: 100 }))).toBe("bad_body");
    expect(codeOf(() => jsonObjectBody(body("null"), { what: "b", maxBytes: 100 }))).toBe("bad_body");
  });

  it("names the body and the accepted types in its messages; an empty type is accepted only when listed", () => {
    expect(() => jsonObjectBody(body("{}", "text/csv"), { what: "body", maxBytes: 9, types: ["", "application/json", "text/plain"] })).toThrow(
      "body must be application/json or text/plain",
    );
    expect(jsonObjectBody(body("{}", ""), { what: "body", maxBytes: 9, types: ["", "application/json"] })).toEqual({});
    expect(codeOf(() => jsonObjectBody(body("{}", ""), { what: "b", maxBytes: 9 }))).toBe("unsupported_media_type");
    expect(() => jsonObjectBody(body("[]"), { what: "b", maxBytes: 9, notObject: "b must be {rows}" })).toThrow("b must be {rows}");
  });
});
