import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Testing } from "cdktf";
import { buildApp } from "../../stacks/main";
import { RawConfig, resolveConfig } from "../../stacks/config";

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function synthStacks(raw: RawConfig = {}) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "lane-synth-"));
  const config = resolveConfig(raw);
  const built = buildApp(config, outdir);
  const lane = JSON.parse(Testing.synth(built.lane)) as Json;
  const bootstrap = JSON.parse(Testing.synth(built.bootstrap)) as Json;
  return { ...built, config, laneJson: lane, bootstrapJson: bootstrap, outdir };
}

/** All resources of `type` as an array of attribute objects. */
export function resources(json: Json, type: string): Json[] {
  return Object.values((json.resource?.[type] ?? {}) as Record<string, Json>);
}

export function one(json: Json, type: string): Json {
  const all = resources(json, type);
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}

export function statements(policy: string): Json[] {
  const doc = JSON.parse(policy) as { Statement: Json[] };
  return doc.Statement;
}

export function asList<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
