/**
 * The render path's building blocks, side by side in one process (interleaved rounds, medians):
 * what session 7's choices in enclave/render.ts and wire/msgpack-scan.ts rest on. Run:
 *
 *   npx tsx bench/micro/signer-render.ts [rounds]
 *
 * - JSON of a 100 × 10 batch answer: JSON.stringify against a hand-written writer for the fixed
 *   shape (string concatenation with precomputed key texts; and one writing bytes into a Buffer).
 *   The writer was not adopted: its string is a rope whose flattening costs what it saves.
 * - JSON.stringify of 8 × 38-float embeddings as msgpackr decodes them (holey arrays) and as
 *   packed copies (what render.ts's jsonReady hands it).
 * - Short ASCII strings: Buffer#toString("latin1") against String.fromCharCode (readItem's asciiAt).
 * - The projected decode of a demo body (10 of 60 features) and msgpackr's full decode, for scale.
 * Only ratios within one run mean anything on a shared VM.
 */
import { Packr, Unpackr } from "msgpackr";
import { DEMO_VIEW, demoObject } from "../../dev/demo-data";
import { isoTime } from "../../enclave/render";
import { decodeObjectBody, decodeObjectBodyProjected, encodeObjectBody, KeySelector } from "../../wire/object";

const ROUNDS = Number(process.argv[2] ?? 9);
const now = Date.now();
const TEN = "country,risk_score,segment,txn_count_1d,flag_0,spend_30d_cat_0,spend_30d_cat_1,device,referrer,signup_time".split(",");

// --- a batch answer as renderRead builds it
const results = Array.from({ length: 100 }, (_, i) => {
  const o = demoObject(i, now);
  const features: Record<string, unknown> = {};
  const status: Record<string, string> = {};
  for (const n of TEN) {
    const v = o.features[n];
    features[n] = v instanceof Date ? isoTime(v.getTime()) : v;
    status[n] = v === null ? "NULL_VALUE" : "PRESENT";
  }
  return { entity: o.entity, found: true, event_time: isoTime(o.event_time), written_time: isoTime(o.written_time), written_by: "writer-a", fresh_as_of: null, features, status };
});
const answer = { view: DEMO_VIEW, registry_version: 3, registry_digest: `sha256-${"ab".repeat(22)}`, max_staleness: 60, results };

// eslint-disable-next-line no-control-regex -- the characters JSON.stringify escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
const jsonString = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);
function jsonValue(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "string") return jsonString(v);
  if (typeof v === "number") return Number.isFinite(v) ? `${v}` : "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  return JSON.stringify(v);
}
const keyTexts = new Map<string, string>();
const keyText = (k: string, comma: boolean): string => {
  const id = comma ? `,${k}` : k;
  let text = keyTexts.get(id);
  if (text === undefined) keyTexts.set(id, (text = `${comma ? "," : ""}${JSON.stringify(k)}:`));
  return text;
};
function handWritten(a: typeof answer): string {
  let out = `{"view":${jsonString(a.view)},"registry_version":${a.registry_version},"registry_digest":${jsonString(a.registry_digest)},"max_staleness":${a.max_staleness},"results":[`;
  a.results.forEach((r, i) => {
    out += `${i > 0 ? "," : ""}{"entity":${jsonString(r.entity)},"found":true,"event_time":${jsonString(r.event_time!)},"written_time":${jsonString(r.written_time!)},"written_by":${jsonString(r.written_by)},"fresh_as_of":null,"features":{`;
    let first = true;
    for (const k in r.features) {
      out += keyText(k, !first) + jsonValue(r.features[k]);
      first = false;
    }
    out += `},"status":{`;
    first = true;
    for (const k in r.status) {
      out += `${keyText(k, !first)}"${r.status[k]}"`;
      first = false;
    }
    out += "}}";
  });
  return `${out}]}`;
}

/** Bytes written one by one into a reused Buffer (ASCII fast path, JSON.stringify for the rest). */
class ByteWriter {
  buf = Buffer.allocUnsafe(1 << 17);
  pos = 0;
  raw(s: string): void {
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i);
  }
  str(s: string): void {
    const start = this.pos;
    this.buf[this.pos++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x7f) {
        this.pos = start + this.buf.write(JSON.stringify(s), start, "utf8");
        return;
      }
      this.buf[this.pos++] = c;
    }
    this.buf[this.pos++] = 0x22;
  }
}
function byteWritten(a: typeof answer): Buffer {
  const w = new ByteWriter();
  w.raw(`{"view":`);
  w.str(a.view);
  w.raw(`,"registry_version":${a.registry_version},"registry_digest":`);
  w.str(a.registry_digest);
  w.raw(`,"max_staleness":${a.max_staleness},"results":[`);
  a.results.forEach((r, i) => {
    w.raw(i > 0 ? `,{"entity":` : `{"entity":`);
    w.str(r.entity);
    w.raw(`,"found":true,"event_time":`);
    w.str(r.event_time!);
    w.raw(`,"written_time":`);
    w.str(r.written_time!);
    w.raw(`,"written_by":`);
    w.str(r.written_by);
    w.raw(`,"fresh_as_of":null,"features":{`);
    let first = true;
    for (const k in r.features) {
      w.raw(keyText(k, !first));
      const v = r.features[k];
      if (typeof v === "string") w.str(v);
      else w.raw(jsonValue(v));
      first = false;
    }
    w.raw(`},"status":{`);
    first = true;
    for (const k in r.status) {
      w.raw(keyText(k, !first));
      w.str(r.status[k]);
      first = false;
    }
    w.raw("}}");
  });
  w.raw("]}");
  return Buffer.from(w.buf.subarray(0, w.pos));
}

const reference = Buffer.from(JSON.stringify(answer), "utf8");
if (!Buffer.from(handWritten(answer), "utf8").equals(reference) || !byteWritten(answer).equals(reference)) throw new Error("a hand-written JSON differs from JSON.stringify");

// --- embeddings as msgpackr decodes them (holey) and packed copies
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const embeddings = Object.entries(demoObject(7, now).features)
  .filter(([k]) => k.startsWith("embedding_"))
  .map(([, v]) => v);
const holey = unpackr.unpack(new Packr({ useRecords: false }).pack(embeddings)) as number[][];
const packed = holey.map((a) => {
  const copy: number[] = [];
  for (let i = 0; i < a.length; i++) copy.push(a[i]);
  return copy;
});

// --- short ASCII strings at known offsets
const strings = Buffer.from("\xa7android\xabcampaign_32\xa2US\xa7dormant", "latin1");
const spans = [
  [1, 7],
  [9, 11],
  [21, 2],
  [24, 7],
];
const fromCharCode = String.fromCharCode;

// --- the projected decode of a demo body
const body = encodeObjectBody(demoObject(7, now));
const ten = new KeySelector(TEN);

type Case = [name: string, ops: number, run: () => unknown];
const cases: Case[] = [
  ["batch answer JSON.stringify + Buffer.from", 200, () => Buffer.from(JSON.stringify(answer), "utf8")],
  ["batch answer hand-written string + Buffer.from", 200, () => Buffer.from(handWritten(answer), "utf8")],
  ["batch answer hand-written bytes", 200, () => byteWritten(answer)],
  ["8 embeddings JSON, holey (msgpackr's arrays)", 3000, () => JSON.stringify(holey)],
  [
    "8 embeddings JSON, packed copies (copy included)",
    3000,
    () =>
      JSON.stringify(
        holey.map((a) => {
          const c: number[] = [];
          for (let i = 0; i < a.length; i++) c.push(a[i]);
          return c;
        }),
      ),
  ],
  ["8 embeddings JSON, packed (no copy)", 3000, () => JSON.stringify(packed)],
  ["4 short strings, toString latin1", 100_000, () => spans.map(([s, n]) => strings.toString("latin1", s, s + n))],
  [
    "4 short strings, fromCharCode",
    100_000,
    () =>
      spans.map(([s, n]) => {
        const c: number[] = [];
        for (let i = 0; i < n; i++) c.push(strings[s + i]);
        return fromCharCode(...c);
      }),
  ],
  ["body decode, projected 10 of 60", 5000, () => decodeObjectBodyProjected(body, ten)],
  ["body decode, msgpackr full", 5000, () => decodeObjectBody(body, { checkFeatures: false })],
];

const samples = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, ops, run] of round % 2 ? [...cases].reverse() : cases) {
    for (let i = 0; i < ops / 10; i++) run();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) run();
    samples.set(name, [...(samples.get(name) ?? []), Number(process.hrtime.bigint() - t0) / ops / 1000]);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
process.stdout.write(`signer render blocks — node ${process.version}, ${ROUNDS} interleaved rounds, µs per op (median)\n`);
for (const [name] of cases) process.stdout.write(`${name.padEnd(50)} ${median(samples.get(name)!).toFixed(2).padStart(9)}\n`);
