/**
 * `lane.json`: what `npm start` (dev/lane/processes.ts startLane) writes into its data dir so
 * the CLI finds the local lane without flags — its URL, its store, and its dev key files.
 *
 * `attest`, `verify`, `load`, `parity`, `push`, `purge` and `apply` take their defaults from it: the data dir is
 * `--data-dir`, else `EXPRESS_LANE_DATA_DIR`, else `.lane`. A flag given on the command line or
 * through its environment variable always wins; lane.json only replaces built-in defaults. No
 * lane.json (and no `--data-dir`) = the built-in defaults, as before.
 *
 * It names files; it holds no key material (the key files it points at are the lane's dev keys,
 * mode 0600 in the data dir).
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { Command, Option } from "commander";
import { DEFAULT_DATA_DIR, LANE_CONFIG_FILE, type LaneConfig } from "../dev/lane-config";

/** What `verify`/`push` pin by default: the lane's JWKS, else the keyid it printed at start. */
function pinnedKeys(c: LaneConfig): string[] {
  return [c.keys.lane_jwks ?? c.keyid];
}

export class LaneConfigError extends Error {}

/**
 * The data dir the CLI looks in: the flag, else the environment, else `.lane`. Only the flag makes
 * a missing lane.json an error (the variable is also `npm start`'s, set before any lane exists).
 */
export function laneDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): { dir: string; explicit: boolean } {
  const chosen = flag ?? (env.EXPRESS_LANE_DATA_DIR || undefined);
  return { dir: resolve(chosen ?? DEFAULT_DATA_DIR), explicit: flag !== undefined };
}

/** The lane.json of a data dir; undefined when there is none (an error when the data dir was asked for). */
export function readLaneConfig(dataDir: string, explicit: boolean): LaneConfig | undefined {
  const file = join(dataDir, LANE_CONFIG_FILE);
  if (!existsSync(file)) {
    if (explicit) throw new LaneConfigError(`no ${LANE_CONFIG_FILE} in ${dataDir} (npm start -- --data-dir ${dataDir} writes it)`);
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new LaneConfigError(`${file}: not JSON (${(err as Error).message})`);
  }
  const c = parsed as Partial<LaneConfig>;
  if (
    typeof c !== "object" ||
    c === null ||
    c.version !== 1 ||
    typeof c.url !== "string" ||
    typeof c.store?.endpoint !== "string" ||
    typeof c.keys?.writer_key !== "string" ||
    typeof c.keyid !== "string"
  ) {
    throw new LaneConfigError(`${file}: not a lane.json (version 1 with url, store, keys)`);
  }
  // Relative paths are relative to the data dir (a moved folder keeps working).
  const at = (p: string) => (isAbsolute(p) ? p : join(dataDir, p));
  const k = c.keys;
  return {
    ...(c as LaneConfig),
    keys: {
      ...(k.lane_jwks ? { lane_jwks: at(k.lane_jwks) } : {}),
      writer_key: at(k.writer_key ?? ""),
      admin_key: at(k.admin_key ?? ""),
      directory: at(k.directory ?? ""),
      trust_config: at(k.trust_config ?? ""),
    },
    dev_ca_dir: at(c.dev_ca_dir ?? "dev-ca"),
  };
}

/**
 * Per command: which options (commander attribute names) lane.json fills, and the positional URL
 * argument it may fill or complete (a path like `/v1/features/…` becomes `<url>/v1/features/…`).
 */
interface Defaults {
  readonly options: Readonly<Record<string, (c: LaneConfig) => unknown>>;
  /** Index of the URL argument, if the command takes one. */
  readonly urlArgument?: number;
  /** Options that replace the URL argument (attest --document): then it is not filled. */
  readonly urlUnlessOptions?: readonly string[];
  /** Options that, when given, mean "I chose my trust anchor": lane.json's key is then not added. */
  readonly anchorOptions?: readonly string[];
}

const DEFAULTS: Readonly<Record<string, Defaults>> = {
  verify: {
    options: { key: pinnedKeys, devCa: (c) => c.dev_ca_dir },
    urlArgument: 0,
    anchorOptions: ["key", "jwk", "keyid", "attest", "trustOnFirstUse"],
  },
  attest: { options: { devCa: (c) => c.dev_ca_dir }, urlArgument: 0, urlUnlessOptions: ["document"] },
  load: {
    options: {
      endpoint: (c) => c.store.endpoint,
      bucket: (c) => c.store.bucket,
      region: (c) => c.store.region,
      writerKeyFile: (c) => c.keys.writer_key,
      sequencer: (c) => c.sequencer,
    },
  },
  parity: { options: { url: (c) => c.url } },
  push: { options: { url: (c) => c.url, writerKeyFile: (c) => c.keys.writer_key, key: pinnedKeys, sequencer: (c) => c.sequencer }, anchorOptions: ["key", "jwk", "keyid"] },
  purge: {
    options: {
      endpoint: (c) => c.store.endpoint,
      bucket: (c) => c.store.bucket,
      region: (c) => c.store.region,
      writerKeyFile: (c) => c.keys.writer_key,
      sequencer: (c) => c.sequencer,
    },
  },
  // The local lane's dev admin key signs the registry document, unless a KMS admin key is named.
  apply: { options: { url: (c) => c.url, adminKeyFile: (c) => c.keys.admin_key }, anchorOptions: ["adminKeyFile", "adminKeyKms"] },
  views: { options: { url: (c) => c.url } },
};

/** Commands that read lane.json. */
export const LANE_CONFIG_COMMANDS: readonly string[] = Object.keys(DEFAULTS);

/** Only values nobody chose (built-in default or unset) are replaced; flags and env vars win. */
function unchosen(command: Command, name: string): boolean {
  const source = command.getOptionValueSource(name);
  return source === undefined || source === "default";
}

/** Fill a command's unchosen options (and URL argument) from the lane.json of its data dir. */
export function applyLaneConfig(command: Command, env: NodeJS.ProcessEnv = process.env): LaneConfig | undefined {
  const defaults = DEFAULTS[command.name()];
  if (!defaults) return undefined;
  const flag = command.getOptionValueSource("dataDir") === "cli" ? command.opts<{ dataDir?: string }>().dataDir : undefined;
  const { dir, explicit } = laneDataDir(flag, env);
  const config = readLaneConfig(dir, explicit);
  if (!config) return undefined;
  const anchorChosen = (defaults.anchorOptions ?? []).some((name) => !unchosen(command, name) && command.getOptionValue(name) !== undefined);
  for (const [name, value] of Object.entries(defaults.options)) {
    if (!unchosen(command, name)) continue;
    if (defaults.anchorOptions?.includes(name) && anchorChosen) continue;
    command.setOptionValueWithSource(name, value(config), "config");
  }
  if (defaults.urlArgument !== undefined && !(defaults.urlUnlessOptions ?? []).some((name) => command.getOptionValue(name) !== undefined)) {
    const args = command.processedArgs as unknown[];
    const given = args[defaults.urlArgument];
    if (given === undefined) args[defaults.urlArgument] = config.url;
    else if (typeof given === "string" && given.startsWith("/")) args[defaults.urlArgument] = `${config.url}${given}`;
  }
  return config;
}

/** Adds `--data-dir` to the commands that read lane.json, and fills their defaults before they run. */
export function useLaneConfig(program: Command): void {
  for (const command of program.commands) {
    if (!LANE_CONFIG_COMMANDS.includes(command.name())) continue;
    command.addOption(
      new Option("--data-dir <dir>", `local lane data dir whose ${LANE_CONFIG_FILE} gives defaults (URL, store, dev keys); flags win`).env("EXPRESS_LANE_DATA_DIR"),
    );
  }
  program.hook("preAction", (_program, action) => {
    if (LANE_CONFIG_COMMANDS.includes(action.name())) applyLaneConfig(action);
  });
}
