/**
 * Turns stored objects into the response body, on the fly: decode the MessagePack object, check it
 * is the object the request names, project the requested features, encode JSON or MessagePack.
 * There is no second "clean" copy of the data anywhere; this is the only transformation.
 */
import { Packr } from "msgpackr";
import { decodeObject, FeatureObject, FeatureValue, ObjectFormatError } from "../wire/object";
import type { ReadRequest } from "../wire/request";

/** Per-feature status, Feast/Tecton style. */
export type FeatureStatus = "PRESENT" | "NULL_VALUE" | "NOT_FOUND";

export interface EntityFound {
  readonly entity: string;
  readonly found: true;
  readonly event_time: Date;
  readonly written_time: Date;
  readonly features: Record<string, FeatureValue>;
  readonly status: Record<string, FeatureStatus>;
}

export interface EntityError {
  readonly entity: string;
  readonly found: false;
  readonly error: { readonly code: string; readonly message: string };
}

export type EntityResult = EntityFound | EntityError;

export interface RenderedBody {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

const packr = new Packr({ useRecords: false });

function project(object: FeatureObject, wanted: readonly string[] | null): Pick<EntityFound, "features" | "status"> {
  const features: Record<string, FeatureValue> = {};
  const status: Record<string, FeatureStatus> = {};
  const names = wanted ?? Object.keys(object.features);
  for (const name of names) {
    const value = Object.prototype.hasOwnProperty.call(object.features, name) ? object.features[name] : undefined;
    if (value === undefined) {
      features[name] = null;
      status[name] = "NOT_FOUND";
    } else {
      features[name] = value;
      status[name] = value === null ? "NULL_VALUE" : "PRESENT";
    }
  }
  return { features, status };
}

/** One entity: found and projected, missing, or refused (corrupt or not the object asked for). */
export function renderEntity(view: string, entity: string, bytes: Uint8Array | null, wanted: readonly string[] | null): EntityResult {
  if (bytes === null) {
    return { entity, found: false, error: { code: "not_found", message: "no features stored for this entity" } };
  }
  let object: FeatureObject;
  try {
    object = decodeObject(bytes);
  } catch (err) {
    if (err instanceof ObjectFormatError) return { entity, found: false, error: { code: err.code, message: err.message } };
    throw err;
  }
  // The host chose which bytes to send; make sure they are this entity's object in this view.
  if (object.view !== view || object.entity !== entity) {
    return { entity, found: false, error: { code: "object_mismatch", message: "stored object belongs to another view or entity" } };
  }
  return {
    entity,
    found: true,
    event_time: new Date(object.event_time),
    written_time: new Date(object.written_time),
    ...project(object, wanted),
  };
}

function statusOf(result: EntityResult): number {
  if (result.found) return 200;
  return result.error.code === "not_found" ? 404 : 502;
}

export function encodeBody(format: ReadRequest["format"], value: unknown): { contentType: string; body: Buffer } {
  if (format === "msgpack") return { contentType: "application/msgpack", body: packr.pack(value) };
  return { contentType: "application/json", body: Buffer.from(JSON.stringify(value), "utf8") };
}

/** The whole answer for a parsed request and the objects the host fetched, in request order. */
export function renderRead(request: ReadRequest, objects: ReadonlyArray<Uint8Array | null>): RenderedBody {
  if (objects.length !== request.entities.length) {
    throw new Error(`expected ${request.entities.length} objects, host sent ${objects.length}`);
  }
  if (request.kind === "single") {
    const result = renderEntity(request.view, request.entities[0], objects[0], request.features);
    return { status: statusOf(result), ...encodeBody(request.format, { view: request.view, ...result }) };
  }
  const results = request.entities.map((entity, i) => renderEntity(request.view, entity, objects[i], request.features));
  return { status: 200, ...encodeBody(request.format, { view: request.view, results }) };
}
