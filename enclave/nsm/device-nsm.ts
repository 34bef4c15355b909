/**
 * DeviceNsm: attestation from the real Nitro Secure Module, inside an enclave.
 *
 * Node has no ioctl, so the device edge is nsm-helper (nsm-helper.c, built into the enclave
 * image): it forwards one CBOR request to /dev/nsm and prints the CBOR response. Everything that
 * can be wrong about the bytes — encoding the request, limits, NSM error responses, a missing
 * document — is handled here in TypeScript (codec.ts) and unit-tested without a device.
 *
 * One process per document is fine: attestations are rare (startup, /v1/attestation, KMS), never on
 * the read path.
 */
import { spawn } from "node:child_process";
import { decodeAttestationResponse, encodeAttestationRequest, NSM_RESPONSE_MAX_SIZE, NsmError } from "./codec";
import type { AttestationRequest, Nsm } from "./types";

/** Where enclave/image/Dockerfile installs the helper. */
export const DEFAULT_NSM_HELPER = "/usr/local/bin/nsm-helper";

/** Sends one CBOR request to the NSM and returns its CBOR response. */
export type NsmExchange = (request: Buffer) => Promise<Buffer>;

export interface DeviceNsmOptions {
  /** Path of the nsm-helper binary. Default /usr/local/bin/nsm-helper. */
  readonly helperPath?: string;
  /** Give up on the helper after this long. Default 10 s. */
  readonly timeoutMs?: number;
  /** Replaces the helper (tests). */
  readonly exchange?: NsmExchange;
}

export class DeviceNsm implements Nsm {
  readonly kind = "device" as const;
  private readonly exchange: NsmExchange;

  constructor(options: DeviceNsmOptions = {}) {
    const helperPath = options.helperPath ?? DEFAULT_NSM_HELPER;
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.exchange = options.exchange ?? ((request) => runNsmHelper(helperPath, request, timeoutMs));
  }

  async attest(request: AttestationRequest): Promise<Buffer> {
    return decodeAttestationResponse(await this.exchange(encodeAttestationRequest(request)));
  }
}

/** Runs nsm-helper once: request on stdin, response from stdout; a non-zero exit is an NsmError. */
export function runNsmHelper(helperPath: string, request: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(helperPath, [], { stdio: ["pipe", "pipe", "pipe"], env: {} });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > NSM_RESPONSE_MAX_SIZE) child.kill("SIGKILL");
      else stdout.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new NsmError("HelperFailed", `${helperPath}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const reason = Buffer.concat(stderr).toString("utf8").trim().slice(0, 500);
      if (stdoutBytes > NSM_RESPONSE_MAX_SIZE) reject(new NsmError("HelperFailed", `response larger than ${NSM_RESPONSE_MAX_SIZE} bytes`));
      else if (code === 0) resolve(Buffer.concat(stdout));
      else reject(new NsmError("HelperFailed", `${helperPath} exited ${signal ?? code}${reason ? `: ${reason}` : ""}`));
    });
    child.stdin.on("error", () => undefined); // the helper may exit before reading; "close" reports why
    child.stdin.end(request);
  });
}
