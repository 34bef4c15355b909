/**
 * The NSM the signer uses: `createNsm({ mode: "device" })` inside a Nitro Enclave,
 * `createNsm({ mode: "local", bundlePath })` everywhere else. Both return documents in the Nitro
 * format; only the root they chain to differs (AWS Root-G1 vs. the local dev root).
 */
import { DeviceNsm, type DeviceNsmOptions } from "./device-nsm";
import { LocalNsm, type LocalNsmOptions } from "./local-nsm";
import type { Nsm } from "./types";

export type CreateNsmOptions = ({ readonly mode: "device" } & DeviceNsmOptions) | ({ readonly mode: "local" } & LocalNsmOptions);

export function createNsm(options: CreateNsmOptions): Nsm {
  switch (options.mode) {
    case "device":
      return new DeviceNsm(options);
    case "local":
      return new LocalNsm(options);
  }
}
