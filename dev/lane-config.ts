/**
 * `lane.json`: what the local lane (dev/lane/processes.ts startLane, `npm start`) writes into its
 * data dir so the CLI (cli/lane-config.ts) finds it without flags: its URL, its store and its dev
 * key files. It names files; it holds no key material.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export const LANE_CONFIG_FILE = "lane.json";
export const DEFAULT_DATA_DIR = ".lane";

export interface LaneConfig {
  readonly version: 1;
  /** The runtime's base URL. */
  readonly url: string;
  readonly store: { readonly endpoint: string; readonly bucket: string; readonly region: string };
  /** Absolute paths of the lane's dev key files. */
  readonly keys: {
    /** The lane's public signing keys (JWKS): what `verify --key` pins. Absent when the lane has no lane key. */
    readonly lane_jwks?: string;
    /** The dev writer key (`load`, `push`). */
    readonly writer_key: string;
    /** The dev admin key (signs key directories). */
    readonly admin_key: string;
    /** The signed key directory the runtime provisions. */
    readonly directory: string;
    /** The signer's trust config (which admin keys it trusts). */
    readonly trust_config: string;
  };
  /** The local NSM twin's CA (`attest --root local`, `verify --attest --root local`). */
  readonly dev_ca_dir: string;
  /** The keyid answers are signed with at start (the lane key's, else the signer's own). */
  readonly keyid: string;
  /** The lane's checkpoint sequencer (issue #16): `load`, `push` and `purge` report to it. */
  readonly sequencer?: string;
}

export function writeLaneConfig(dataDir: string, config: LaneConfig): string {
  const file = join(dataDir, LANE_CONFIG_FILE);
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}
