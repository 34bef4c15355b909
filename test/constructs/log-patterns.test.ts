/**
 * The alarms' CloudWatch Logs metric filters against the lines the runtime actually writes:
 * pino lines of KeyProvisioning and ExpressSessionCache's failure line. A tiny evaluator for
 * the subset of the JSON filter syntax the patterns use (`$.field = "literal*"`, `!=`, `&&`,
 * parentheses); CloudWatch's own syntax reference: "Using filter patterns to match terms in JSON
 * log events" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { serializeWrappedSealKeys } from "../../wire/seal-keys";
import pino from "pino";
import { CREATE_SESSION_ERROR_PATTERN, KMS_ERROR_PATTERN } from "../../constructs/observability";
import { KeyProvisioning } from "../../runtime/key-provisioning";
import { CREATE_SESSION_FAILED_EVENT, ExpressSessionCache } from "../../runtime/store/express-session";

function matches(pattern: string, line: string): boolean {
  const event = JSON.parse(line) as Record<string, unknown>;
  const body = /^\{\s*(.*)\s*\}$/.exec(pattern.trim())![1];
  return body.split("&&").every((term) => {
    const m = /^\(?\s*\$\.([A-Za-z_]+)\s*(=|!=)\s*"([^"]*)"\s*\)?$/.exec(term.trim());
    if (!m) throw new Error(`unsupported term ${term}`);
    const value = event[m[1]];
    const text = typeof value === "string" ? value : value === undefined ? undefined : String(value);
    const lit = m[3];
    const eq = text !== undefined && (lit.endsWith("*") ? text.startsWith(lit.slice(0, -1)) : text === lit);
    return m[2] === "=" ? eq : text !== undefined && !eq;
  });
}

function pinoLines(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(
        ...String(chunk)
          .split("\n")
          .filter((l) => l !== ""),
      );
      cb();
    },
  });
  return { logger: pino({ level: "info", base: { service: "express-lane-runtime" } }, sink), lines };
}

async function provisioningFailure(error: Error | "missing-file"): Promise<string[]> {
  const { logger, lines } = pinoLines();
  const doc = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "seal-keys-")), "seal-keys.json");
  const arn = "arn:aws:kms:ap-south-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
  fs.writeFileSync(
    doc,
    serializeWrappedSealKeys({
      version: 1,
      keyArn: arn,
      region: "ap-south-1",
      keys: [{ kid: "prod-runtime-1", writer: "loader", ciphertextBlob: Buffer.from("wrapped").toString("base64") }],
    }),
  );
  const directory = path.join(path.dirname(doc), "directory.json");
  fs.writeFileSync(directory, "{}");
  const p = new KeyProvisioning({
    directoryFile: directory,
    file: error === "missing-file" ? "/nonexistent/seal-keys.json" : doc,
    credentials: async () => ({ accessKeyId: "A", secretAccessKey: "S" }),
    signer: { up: true, provisionKeys: async () => Promise.reject(error) },
    logger,
    retryMs: 60_000,
  });
  await p.trigger();
  p.stop();
  return lines;
}

describe("KMS errors metric filter", () => {
  test("matches a provisioning failure (e.g. KMS refusing the attested Decrypt)", async () => {
    const lines = await provisioningFailure(new Error("AccessDeniedException: kms:Decrypt"));
    const hits = lines.filter((l) => matches(KMS_ERROR_PATTERN, l));
    expect(hits).toHaveLength(1);
    expect(JSON.parse(hits[0]).err).toMatch(/AccessDeniedException/);
  });

  test("does not match the first deploy's missing wrapped-keys file", async () => {
    const lines = await provisioningFailure("missing-file");
    expect(lines.some((l) => /provisioning failed/.test(l))).toBe(true);
    expect(lines.filter((l) => matches(KMS_ERROR_PATTERN, l))).toHaveLength(0);
  });
});

describe("CreateSession errors metric filter", () => {
  test("a failed CreateSession writes one JSON line the filter matches", async () => {
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const cache = new ExpressSessionCache({
      createSession: async () => Promise.reject(Object.assign(new Error("Access Denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } })),
    });
    try {
      await expect(cache.resolve("lane--aps1-az1--x-s3")).rejects.toMatchObject({ code: "denied" });
    } finally {
      cache.close();
      spy.mockRestore();
    }
    const lines = written
      .join("")
      .split("\n")
      .filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    expect(matches(CREATE_SESSION_ERROR_PATTERN, lines[0])).toBe(true);
    expect(CREATE_SESSION_ERROR_PATTERN).toContain(`"${CREATE_SESSION_FAILED_EVENT}"`);
    expect(JSON.parse(lines[0])).toEqual(expect.objectContaining({ bucket: "lane--aps1-az1--x-s3", status: 403, error: "AccessDenied: Access Denied" }));
  });
});
