import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cborDecoder, cborEncoder, decodeAttestationResponse, encodeAttestationRequest, NsmError } from "../../../enclave/nsm/codec";
import { DeviceNsm, runNsmHelper } from "../../../enclave/nsm/device-nsm";
import { createNsm } from "../../../enclave/nsm/index";
import { LocalNsm } from "../../../enclave/nsm/local-nsm";
import { verifyAttestation } from "../../../verifier/attestation";
import { localSetup, tempDir } from "./fixtures";

const text = (s: string) => Buffer.from([0x60 + s.length, ...Buffer.from(s)]).toString("hex");

describe("NSM request encoding", () => {
  test("is exactly the nsm-api CBOR: {Attestation: {user_data, nonce, public_key}}, null when absent", () => {
    const bytes = encodeAttestationRequest({ nonce: Buffer.from([0xab, 0xcd]) });
    const expected = "a1" + text("Attestation") + "a3" + text("user_data") + "f6" + text("nonce") + "42abcd" + text("public_key") + "f6";
    expect(bytes.toString("hex")).toBe(expected);
  });

  test("carries all three fields as byte strings", () => {
    const request = { userData: Buffer.from("u"), nonce: Buffer.from("n"), publicKey: Buffer.alloc(32, 9) };
    const decoded = cborDecoder.decode(encodeAttestationRequest(request)) as Map<string, Map<string, Buffer>>;
    const fields = decoded.get("Attestation")!;
    expect(fields.get("user_data")).toEqual(request.userData);
    expect(fields.get("nonce")).toEqual(request.nonce);
    expect(fields.get("public_key")).toEqual(request.publicKey);
  });

  test("refuses oversized fields before reaching the device", () => {
    expect(() => encodeAttestationRequest({ nonce: Buffer.alloc(513) })).toThrow(NsmError);
  });
});

describe("NSM response decoding", () => {
  const response = (value: unknown) => cborEncoder.encode(value);

  test("returns the document of an Attestation response", () => {
    const doc = Buffer.from("cose bytes");
    expect(decodeAttestationResponse(response(new Map([["Attestation", new Map([["document", doc]])]])))).toEqual(doc);
  });

  test.each([
    ["an Error response", new Map([["Error", "InvalidArgument"]]), "InvalidArgument"],
    ["a bare error string", "InternalError", "InternalError"],
    ["a response without a document", new Map([["Attestation", new Map()]]), "InvalidResponse"],
    ["an empty document", new Map([["Attestation", new Map([["document", Buffer.alloc(0)]])]]), "InvalidResponse"],
    ["another response kind", new Map([["DescribeNSM", new Map()]]), "InvalidResponse"],
    ["a non-map", [1, 2], "InvalidResponse"],
  ])("maps %s to NsmError %s", (_name, value, code) => {
    expect(() => decodeAttestationResponse(response(value))).toThrow(expect.objectContaining({ code }));
  });

  test("garbage → InvalidResponse", () => {
    expect(() => decodeAttestationResponse(Buffer.from([0xff, 0x00]))).toThrow(expect.objectContaining({ code: "InvalidResponse" }));
  });
});

describe("DeviceNsm", () => {
  test("round trip through a simulated device yields a verifiable document", async () => {
    const lane = localSetup();
    // The "device": decode the request as the NSM would, answer with a LocalNsm document.
    const device = async (request: Buffer) => {
      const fields = (cborDecoder.decode(request) as Map<string, Map<string, Buffer | null>>).get("Attestation")!;
      const document = await lane.nsm.attest({
        nonce: fields.get("nonce") ?? undefined,
        publicKey: fields.get("public_key") ?? undefined,
        userData: fields.get("user_data") ?? undefined,
      });
      return cborEncoder.encode(new Map([["Attestation", new Map([["document", document]])]]));
    };
    const nsm = new DeviceNsm({ exchange: device });
    expect(nsm.kind).toBe("device");
    const doc = await nsm.attest({ publicKey: Buffer.alloc(32, 1), nonce: Buffer.from("n1") });
    const verified = verifyAttestation(doc, { root: lane.root(), measurements: lane.measurements(), nonce: Buffer.from("n1") });
    expect(verified.publicKey).toEqual(Buffer.alloc(32, 1));
  });

  test("an NSM error response becomes an NsmError", async () => {
    const nsm = new DeviceNsm({ exchange: async () => cborEncoder.encode(new Map([["Error", "InputTooLarge"]])) });
    await expect(nsm.attest({})).rejects.toMatchObject({ code: "InputTooLarge" });
  });
});

describe("runNsmHelper (process edge, with stand-in helpers)", () => {
  const dir = tempDir("lane-helper-");
  const script = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };

  test("passes stdin through and returns stdout", async () => {
    const echo = script("echo-helper", "cat");
    const request = encodeAttestationRequest({ nonce: Buffer.from("x") });
    await expect(runNsmHelper(echo, request, 5000)).resolves.toEqual(request);
  });

  test("a failing helper is an NsmError with its stderr", async () => {
    const failing = script("failing-helper", "cat >/dev/null; echo 'nsm-helper: open /dev/nsm: No such file or directory' >&2; exit 3");
    await expect(runNsmHelper(failing, Buffer.from("x"), 5000)).rejects.toThrow(/HelperFailed.*exited 3.*\/dev\/nsm/);
  });

  test("a missing helper, an oversized answer, and a hung helper all fail", async () => {
    await expect(runNsmHelper(join(dir, "absent"), Buffer.from("x"), 5000)).rejects.toMatchObject({ code: "HelperFailed" });
    const chatty = script("chatty-helper", "cat >/dev/null; head -c 20000 /dev/zero");
    await expect(runNsmHelper(chatty, Buffer.from("x"), 5000)).rejects.toThrow(/larger than/);
    const hung = script("hung-helper", "exec sleep 30");
    await expect(runNsmHelper(hung, Buffer.from("x"), 300)).rejects.toThrow(/SIGKILL/);
  });

  test("DeviceNsm uses the helper at helperPath", async () => {
    const lane = localSetup();
    const doc = await lane.nsm.attest({});
    const responseFile = join(dir, "response.cbor");
    writeFileSync(responseFile, cborEncoder.encode(new Map([["Attestation", new Map([["document", doc]])]])));
    const canned = script("canned-helper", `cat >/dev/null; cat '${responseFile}'`);
    await expect(new DeviceNsm({ helperPath: canned }).attest({})).resolves.toEqual(doc);
  });
});

describe("createNsm", () => {
  test("builds the implementation the mode names", () => {
    const lane = localSetup();
    expect(createNsm({ mode: "device" })).toBeInstanceOf(DeviceNsm);
    const local = createNsm({ mode: "local", bundlePath: lane.bundlePath, devCaDir: lane.devCaDir });
    expect(local).toBeInstanceOf(LocalNsm);
    expect(local.kind).toBe("local");
  });
});
