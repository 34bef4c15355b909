/**
 * `express-lane apply <views.yaml>`: change which views a running lane serves, without an image
 * rebuild (docs/views.md).
 *
 *   validate the file (file:line errors) → GET /v1/views (what the lane serves, its version) →
 *   print the diff → [--dry-run: stop] → sign a registry document with version = served + 1 with
 *   the lane admin key (dev key file, or KMS) → PUT /v1/registry (admin API key) → the host
 *   forwards it to the enclave, which accepts it only with a pinned admin signature and a newer
 *   version, then writes the fleet copy every other host polls.
 *
 * The host never holds the admin key: a hostile host can refuse to forward, but every signed
 * answer then still names the old registry_version.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Command, Option } from "commander";
import { localAdminSigner } from "../wire/key-directory";
import { parseSignedRegistryDocument, REGISTRY_STORE_KEY, registryFromViews, signRegistryDocument, type ViewDocument } from "../wire/registry-document";
import type { Registry } from "../wire/registry";
import { formatMaxAge, viewsFileValue } from "../wire/views-file";
import { defaultAdminKid, kmsAdminSigner } from "./directory";
import { readAdminKeyFile } from "../dev/key-files";
import { readViewsFile } from "./views-yaml";
import { stringify as stringifyYaml } from "yaml";

/** What GET /v1/views says (the parts apply, load and parity use). */
export interface ServedViews {
  readonly registry_version: number;
  readonly registry_digest: string | null;
  readonly lane: string | null;
  readonly views: ReadonlyArray<ViewDocument & { readonly max_age?: string }>;
}

export class ApplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ApplyError";
  }
}

function headers(apiKey?: string): Record<string, string> {
  return apiKey ? { "x-api-key": apiKey } : {};
}

async function fetchOrSay(url: URL, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ApplyError(`cannot reach ${url.origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
}

async function errorText(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    if (e) return `${e.code}: ${e.message}`;
  } catch {
    /* not JSON */
  }
  return text.slice(0, 300);
}

/** GET /v1/views of a lane. */
export async function fetchServedViews(url: string, apiKey?: string): Promise<ServedViews> {
  const res = await fetchOrSay(new URL("/v1/views", url), { headers: headers(apiKey) });
  if (res.status !== 200) throw new ApplyError(`GET /v1/views answered ${res.status}: ${await errorText(res)}`);
  const body = (await res.json()) as ServedViews;
  if (typeof body.registry_version !== "number" || !Array.isArray(body.views)) throw new ApplyError("GET /v1/views: not a views answer");
  return body;
}

/** load/parity: refuse a view the lane does not serve (objects nobody could read). */
export async function requireServedView(url: string, view: string, apiKey?: string): Promise<ViewDocument> {
  const served = await fetchServedViews(url, apiKey);
  const found = served.views.find((v) => v.name === view);
  if (!found)
    throw new ApplyError(
      `the lane at ${url} does not serve view ${JSON.stringify(view)} (registry version ${served.registry_version}: ${served.views.map((v) => v.name).join(", ") || "no views"}); \`express-lane apply\` a views file that defines it first`,
    );
  return found;
}

/**
 * The registry `load` and `parity` validate rows with: a lane URL (what it serves, GET /v1/views),
 * a signed registry document file, or none (the image default). A view outside it is refused.
 */
export async function registryFor(source: string | undefined, view: string, apiKey?: string): Promise<Registry | undefined> {
  if (!source) return undefined;
  if (/^https?:\/\//.test(source)) {
    await requireServedView(source, view, apiKey);
    return registryFromViews((await fetchServedViews(source, apiKey)).views);
  }
  const parsed = parseSignedRegistryDocument(readFileSync(source));
  if (!parsed.registry.get(view)) throw new ApplyError(`registry document ${source} (version ${parsed.document.version}) has no view ${JSON.stringify(view)}`);
  return parsed.registry;
}

export interface ViewsDiff {
  readonly addedViews: string[];
  readonly removedViews: string[];
  /** Per changed view: what changed, one line each. */
  readonly changed: Record<string, string[]>;
}

const featureText = (f: ViewDocument["features"][number]): string => `${f.type}${f.length !== undefined ? `[${f.length}]` : ""}`;

export function diffViews(served: readonly ViewDocument[], wanted: readonly ViewDocument[]): ViewsDiff {
  const before = new Map(served.map((v) => [v.name, v]));
  const after = new Map(wanted.map((v) => [v.name, v]));
  const changed: Record<string, string[]> = {};
  for (const [name, v] of after) {
    const old = before.get(name);
    if (!old) continue;
    const lines: string[] = [];
    if (old.entity_key !== v.entity_key) lines.push(`entity key ${old.entity_key} → ${v.entity_key}`);
    if (old.max_age_seconds !== v.max_age_seconds) lines.push(`max age ${formatMaxAge(old.max_age_seconds)} → ${formatMaxAge(v.max_age_seconds)}`);
    const oldF = new Map(old.features.map((f) => [f.name, f]));
    const newF = new Map(v.features.map((f) => [f.name, f]));
    for (const [fname, f] of newF) {
      const o = oldF.get(fname);
      if (!o) lines.push(`+ feature ${fname} (${featureText(f)})`);
      else if (featureText(o) !== featureText(f)) lines.push(`~ feature ${fname}: type ${featureText(o)} → ${featureText(f)} (stored values of the old type read TYPE_MISMATCH)`);
    }
    for (const fname of oldF.keys()) if (!newF.has(fname)) lines.push(`- feature ${fname} (stored values stay in objects; reads and pushes refuse it)`);
    if (old.owner !== v.owner || old.description !== v.description) lines.push("owner/description changed");
    if ([...newF].some(([fname, f]) => oldF.has(fname) && (oldF.get(fname)!.description ?? "") !== (f.description ?? ""))) lines.push("feature descriptions changed");
    if (lines.length > 0) changed[name] = lines;
  }
  return {
    addedViews: [...after.keys()].filter((n) => !before.has(n)),
    removedViews: [...before.keys()].filter((n) => !after.has(n)),
    changed,
  };
}

export function diffIsEmpty(d: ViewsDiff): boolean {
  return d.addedViews.length === 0 && d.removedViews.length === 0 && Object.keys(d.changed).length === 0;
}

export function formatDiff(d: ViewsDiff, wanted: readonly ViewDocument[]): string {
  if (diffIsEmpty(d)) return "no changes\n";
  const out: string[] = [];
  for (const name of d.addedViews) {
    const v = wanted.find((w) => w.name === name)!;
    out.push(`+ view ${name} (entity key ${v.entity_key}, max age ${formatMaxAge(v.max_age_seconds)}, ${v.features.length} features)`);
  }
  for (const name of d.removedViews) out.push(`- view ${name} (reads answer 404 unknown_view; stored objects stay until purged)`);
  for (const [name, lines] of Object.entries(d.changed)) {
    out.push(`~ view ${name}`);
    for (const l of lines) out.push(`    ${l}`);
  }
  return `${out.join("\n")}\n`;
}

export interface ApplyOptions {
  readonly file: string;
  readonly url: string;
  readonly apiKey?: string;
  readonly dryRun?: boolean;
  /** How to sign: a dev admin key file, or a KMS admin key. */
  readonly sign?: { readonly kid: string; readonly sign: (input: Buffer) => Promise<Uint8Array> | Uint8Array };
  /** The lane name when the lane still serves its image default (GET /v1/views names no lane). */
  readonly lane?: string;
  /** Also write the signed document here. */
  readonly out?: string;
  readonly now?: number;
  readonly print?: (text: string) => void;
}

export interface ApplyResult {
  readonly diff: ViewsDiff;
  readonly published: boolean;
  readonly version?: number;
  readonly digest?: string;
  readonly signed?: string;
}

export async function apply(o: ApplyOptions): Promise<ApplyResult> {
  const print = o.print ?? ((t: string) => process.stdout.write(t));
  const wanted = readViewsFile(o.file);
  const served = await fetchServedViews(o.url, o.apiKey);
  const diff = diffViews(served.views, wanted);
  print(`lane ${o.url}: registry version ${served.registry_version}${served.registry_digest ? ` (${served.registry_digest})` : ""}\n`);
  print(formatDiff(diff, wanted));
  if (o.dryRun) return { diff, published: false };
  if (diffIsEmpty(diff)) return { diff, published: false, version: served.registry_version, digest: served.registry_digest ?? undefined };
  if (!o.sign) throw new ApplyError("give --admin-key-file or --admin-key-kms to sign the registry document (or --dry-run)");
  const lane = served.lane ?? o.lane;
  if (!lane) throw new ApplyError("the lane serves its image default and names no lane: give --lane");
  if (o.lane && served.lane && o.lane !== served.lane) throw new ApplyError(`--lane ${o.lane} but the lane serves lane ${served.lane}`);
  const version = served.registry_version + 1;
  const signed = await signRegistryDocument({ lane, version, issued_at: o.now ?? Date.now(), views: wanted }, o.sign.kid, o.sign.sign);
  if (o.out) writeFileSync(o.out, signed);
  const res = await fetchOrSay(new URL("/v1/registry", o.url), { method: "PUT", body: signed, headers: { "content-type": "application/json", ...headers(o.apiKey) } });
  if (res.status !== 200) throw new ApplyError(`PUT /v1/registry answered ${res.status}: ${await errorText(res)}`);
  const reply = (await res.json()) as { registry_version: number; registry_digest: string; stored: boolean };
  if (reply.registry_version !== version) throw new ApplyError(`the lane now serves registry version ${reply.registry_version}, not ${version}`);
  print(`published registry version ${reply.registry_version} (${reply.registry_digest})${reply.stored ? "; fleet copy written" : ""}\n`);
  if (!reply.stored)
    print(`this host could not write the fleet copy: upload the signed document (--out) to ${REGISTRY_STORE_KEY} in the lane's bucket so every host picks it up\n`);
  return { diff, published: true, version: reply.registry_version, digest: reply.registry_digest, signed };
}

/**
 * `express-lane views`: what a lane serves, as a views file — the starting point for a change
 * (add a view or a feature, then `apply` the file: a views file lists every view the lane serves).
 */
export async function servedViewsFile(url: string, format: "yaml" | "json", apiKey?: string): Promise<string> {
  const served = await fetchServedViews(url, apiKey);
  const value = viewsFileValue(
    served.views.map(({ name, entity_key, max_age_seconds, owner, description, features }) => ({ name, entity_key, max_age_seconds, owner, description, features })),
  );
  const header = `# registry version ${served.registry_version}${served.registry_digest ? ` (${served.registry_digest})` : " (the image default)"} served by ${url}\n`;
  return format === "json" ? `${JSON.stringify(value, null, 2)}\n` : header + stringifyYaml(value, { lineWidth: 0 });
}

export function registerViewsCommand(program: Command): void {
  program
    .command("views")
    .description("print the views a lane serves as a views file (YAML, or --json): edit it, then `apply` it")
    .addOption(new Option("--url <url>", "the lane (runtime) URL").env("EXPRESS_LANE_URL").default("http://127.0.0.1:8080"))
    .addOption(new Option("--api-key <key>", "reader API key for the host's gate (when the lane has API keys on)").env("EXPRESS_LANE_API_KEY"))
    .option("--json", "JSON instead of YAML")
    .action(async (o: { url: string; apiKey?: string; json?: boolean }) => {
      process.stdout.write(await servedViewsFile(o.url, o.json ? "json" : "yaml", o.apiKey));
    });
}

export function registerApplyCommand(program: Command): void {
  program
    .command("apply")
    .description("validate a views file (YAML or JSON), diff it against what the lane serves, sign and publish it (version = served + 1)")
    .argument("<views-file>", "views.yaml or views.json (docs/views.md)")
    .addOption(new Option("--url <url>", "the lane (runtime) URL").env("EXPRESS_LANE_URL").default("http://127.0.0.1:8080"))
    .addOption(new Option("--api-key <key>", "admin API key for the host's gate (when the lane has API keys on)").env("EXPRESS_LANE_API_KEY"))
    .option("--admin-key-file <file>", "LOCAL DEV: Ed25519 admin key file {kid, privateKeyPem, publicKey} (.lane/keys/admin-dev.json)")
    .option("--admin-key-kms <arn>", "production: the KMS admin key (ECC_NIST_EDWARDS25519)")
    .option("--admin-kid <kid>", "with --admin-key-kms: the kid pinned in the trust config (default: the key id)")
    .option("--lane <name>", "lane name, when the lane still serves its image default")
    .option("--out <file>", "also write the signed registry document here")
    .option("--dry-run", "validate and print the diff; sign and publish nothing")
    .option("--region <region>", "KMS region (default: the key ARN's)")
    .addOption(new Option("--kms-endpoint <url>", "KMS endpoint override").env("EXPRESS_LANE_KMS_ENDPOINT"))
    .action(
      async (
        file: string,
        o: {
          url: string;
          apiKey?: string;
          adminKeyFile?: string;
          adminKeyKms?: string;
          adminKid?: string;
          lane?: string;
          out?: string;
          dryRun?: boolean;
          region?: string;
          kmsEndpoint?: string;
        },
      ) => {
        if (o.adminKeyFile && o.adminKeyKms) throw new ApplyError("give one of --admin-key-file and --admin-key-kms");
        let sign: ApplyOptions["sign"];
        if (o.adminKeyFile) {
          const admin = readAdminKeyFile(o.adminKeyFile);
          sign = { kid: admin.kid, sign: localAdminSigner(admin.privateKeyPem) };
        } else if (o.adminKeyKms) {
          sign = { kid: o.adminKid ?? defaultAdminKid(o.adminKeyKms), sign: kmsAdminSigner(o.adminKeyKms, { region: o.region, endpoint: o.kmsEndpoint }) };
        }
        await apply({ file, url: o.url, apiKey: o.apiKey, dryRun: o.dryRun, sign, lane: o.lane, out: o.out });
      },
    );
}
