import { generateKeyPairSync } from "node:crypto";
import {
  checkValidity,
  currentLaneKey,
  LaneKeyError,
  laneKeyEncryptionContext,
  laneKeysJwks,
  laneKidOf,
  MAX_LANE_KEY_VALIDITY_MS,
  MAX_LANE_KEYS,
  parseLaneKeys,
  rawFromSpki,
} from "../../wire/lane-key";
import { jwkThumbprint } from "../../wire/keys";

const ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const DAY = 86_400_000;
const T0 = 1_800_000_000_000;

function keyPair() {
  const { publicKey } = generateKeyPairSync("ed25519");
  const spki = publicKey.export({ format: "der", type: "spki" });
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
  return { spki, raw };
}

function entry(notBefore = T0, notAfter = T0 + 90 * DAY) {
  const { raw } = keyPair();
  return { kid: laneKidOf(raw), publicKey: raw.toString("base64"), ciphertextBlob: Buffer.alloc(300, 2).toString("base64"), not_before: notBefore, not_after: notAfter };
}

const doc = (over: Record<string, unknown> = {}) => ({ version: 1, lane: "lane-a", keyArn: ARN, region: "eu-west-1", keys: [entry()], ...over });

describe("lane key identity", () => {
  it("kid is the RFC 7638 thumbprint of the public key's JWK", () => {
    const { raw } = keyPair();
    expect(laneKidOf(raw)).toBe(jwkThumbprint({ kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }));
  });

  it("rawFromSpki takes KMS's DER public key to the raw 32 bytes, and refuses other curves", () => {
    const { spki, raw } = keyPair();
    expect(rawFromSpki(spki)).toEqual(raw);
    const p256 = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" });
    expect(() => rawFromSpki(p256)).toThrow(LaneKeyError);
  });

  it("the encryption context binds purpose, lane and the validity window (as decimal strings)", () => {
    expect(laneKeyEncryptionContext("lane-a", 1, 2)).toEqual({ purpose: "express-lane-lane-key", lane: "lane-a", not_before: "1", not_after: "2" });
  });
});

describe("checkValidity", () => {
  it.each<[unknown, unknown, RegExp]>([
    [undefined, T0, /must be ms since epoch/],
    [0, T0, /must be ms since epoch/],
    [T0 + 0.5, T0 + DAY, /must be ms since epoch/],
    [T0, T0, /not_after must be after not_before/],
    [T0, T0 + MAX_LANE_KEY_VALIDITY_MS + 1, /at most 400 days/],
  ])("refuses not_before %p, not_after %p", (nb, na, message) => {
    expect(() => checkValidity(nb, na, "k")).toThrow(message);
  });

  it("accepts the longest allowed window", () => {
    expect(() => checkValidity(T0, T0 + MAX_LANE_KEY_VALIDITY_MS, "k")).not.toThrow();
  });
});

describe("parseLaneKeys", () => {
  it("accepts a valid document and keeps only the known fields of each key", () => {
    const e = entry();
    const parsed = parseLaneKeys(JSON.stringify(doc({ keys: [{ ...e, extra: "dropped" }] })));
    expect(parsed).toEqual(doc({ keys: [e] }));
  });

  it.each<[string, string, RegExp]>([
    ["not JSON", "{", /not JSON/],
    ["null", "null", /version must be 1/],
    ["a bad lane", JSON.stringify(doc({ lane: "Lane" })), /lane must match/],
    ["an alias ARN", JSON.stringify(doc({ keyArn: "arn:aws:kms:eu-west-1:123456789012:alias/x" })), /keyArn/],
    ["another region", JSON.stringify(doc({ region: "us-east-1" })), /region/],
    ["no keys", JSON.stringify(doc({ keys: [] })), /1\.\.4 lane keys/],
    ["too many keys", JSON.stringify(doc({ keys: Array.from({ length: MAX_LANE_KEYS + 1 }, () => entry()) })), /1\.\.4/],
    ["a short public key", JSON.stringify(doc({ keys: [{ ...entry(), publicKey: Buffer.alloc(31).toString("base64") }] })), /publicKey must be 32 bytes/],
    ["a kid that is not the key's thumbprint", JSON.stringify(doc({ keys: [{ ...entry(), kid: laneKidOf(keyPair().raw) }] })), /kid must be the public key's JWK thumbprint/],
    ["an empty blob", JSON.stringify(doc({ keys: [{ ...entry(), ciphertextBlob: "" }] })), /ciphertextBlob/],
    ["a bad window", JSON.stringify(doc({ keys: [entry(T0, T0 - 1)] })), /not_after must be after not_before/],
  ])("refuses %s", (_what, input, message) => {
    expect(() => parseLaneKeys(input)).toThrow(LaneKeyError);
    expect(() => parseLaneKeys(input)).toThrow(message);
  });
});

describe("laneKeysJwks (the consumers' trust anchor)", () => {
  it("publishes public keys with kid and nbf/exp in seconds, and nothing of the ciphertext", () => {
    const e = entry(T0 + 1500, T0 + DAY + 999);
    const { keys } = laneKeysJwks([e]);
    expect(keys).toEqual([
      {
        kty: "OKP",
        crv: "Ed25519",
        x: Buffer.from(e.publicKey, "base64").toString("base64url"),
        kid: e.kid,
        nbf: Math.floor((T0 + 1500) / 1000),
        exp: Math.floor((T0 + DAY + 999) / 1000),
      },
    ]);
    expect(JSON.stringify(keys)).not.toContain(e.ciphertextBlob);
  });
});

describe("currentLaneKey", () => {
  const a = { name: "a", notBefore: 0, notAfter: 100 };
  const b = { name: "b", notBefore: 50, notAfter: 200 };

  it("picks, among the keys valid now, the one of the latest not_before", () => {
    expect(currentLaneKey([a, b], 10)?.name).toBe("a");
    expect(currentLaneKey([a, b], 60)?.name).toBe("b");
    expect(currentLaneKey([b, a], 60)?.name).toBe("b"); // order does not matter
  });

  it("windows are half-open [not_before, not_after): none is current outside them", () => {
    expect(currentLaneKey([a], 100)).toBeUndefined();
    expect(currentLaneKey([b], 49)).toBeUndefined();
    expect(currentLaneKey([b], 50)?.name).toBe("b");
    expect(currentLaneKey([], 0)).toBeUndefined();
  });
});
