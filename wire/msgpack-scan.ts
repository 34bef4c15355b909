/**
 * A MessagePack scanner: walks bytes by their framing without building values, so a reader can
 * keep 10 of 60 features without materialising the other 50. Layout-agnostic (wire/object.ts
 * decides what the fields mean); no module state, so any number of scans may interleave.
 *
 * It must agree with msgpackr, which decodes every value that is kept: each function here either
 * reads an item exactly as msgpackr would or hands the bytes to msgpackr (`unpackItem`).
 * test/wire/msgpack-scan.test.ts checks that on random values.
 */
import { Unpackr } from "msgpackr";

/** Framing the scanner cannot follow: truncated bytes, a key msgpackr would refuse. */
export class MsgpackScanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MsgpackScanError";
  }
}

// The same options as wire/object.ts's decoder: plain maps, no msgpackr records.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** A msgpackr bin value (a Buffer, or a Uint8Array) as a Buffer over the same memory, no copy; anything else is null. */
export function asBuffer(value: Uint8Array): Buffer;
export function asBuffer(value: unknown): Buffer | null;
export function asBuffer(value: unknown): Buffer | null {
  if (Buffer.isBuffer(value)) return value;
  return value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : null;
}

function truncated(): never {
  throw new MsgpackScanError("truncated");
}

/**
 * Names wanted from a MessagePack map, matched against its keys' bytes: a request's features
 * (prepared once; a batch reuses it for every entity) or a layout's own field names.
 */
export class KeySelector {
  /** Wanted names' UTF-8 bytes, indexed by byte length: a key is compared only with equal-length names. */
  private readonly byLength: Array<Array<{ readonly name: string; readonly bytes: ArrayLike<number> }> | undefined> = [];
  private readonly nameSet: ReadonlySet<string>;
  /** No wanted name is "__proto__": values may be collected in a plain object keyed by the names. */
  readonly plainObjectSafe: boolean;

  /** @param names the wanted names (for a request: its features, in answer order) */
  constructor(readonly names: readonly string[]) {
    this.nameSet = new Set(names);
    this.plainObjectSafe = !this.nameSet.has("__proto__");
    for (const name of this.nameSet) {
      const bytes = utf8Bytes(name);
      (this.byLength[bytes.length] ??= []).push({ name, bytes });
    }
  }

  /** The wanted name spelled by src[start, start + length), or null. */
  matchBytes(src: Buffer, start: number, length: number): string | null {
    const candidates = this.byLength[length];
    if (candidates === undefined) return null;
    // From the last byte: names of one family (spend_30d_cat_0, spend_30d_cat_1, …) differ there.
    for (const { name, bytes } of candidates) {
      let i = length - 1;
      while (i >= 0 && src[start + i] === bytes[i]) i--;
      if (i < 0) return name;
    }
    return null;
  }

  matchString(key: string): string | null {
    return this.nameSet.has(key) ? key : null;
  }
}

/**
 * A name's UTF-8 bytes. Request selectors are made per request: for ASCII names (every registry
 * feature name) the char codes are the bytes, which saves a Buffer per name (≈ 1 % of a 10-feature
 * read's signer CPU in a profile).
 */
function utf8Bytes(name: string): ArrayLike<number> {
  const codes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x80) return Buffer.from(name, "utf8");
    codes.push(c);
  }
  return codes;
}

/**
 * Position after the MessagePack item (and everything nested in it) starting at `pos`.
 *
 * Arrays skip their leading float64 elements in one tight loop: embeddings are most of a typical
 * object's bytes, and skipping them item by item was ≈ 10 % of a batch's signer time in a CPU
 * profile (≈ 5 % with this loop). The loop is inline (not a helper returning a pair) so that no
 * allocation and no shared state is needed for the elements it did not skip.
 */
export function skipItem(src: Buffer, pos: number): number {
  const end = src.length;
  const lastFloat = end - 9;
  let pending = 1;
  while (pending > 0) {
    pending--;
    if (pos >= end) truncated();
    const t = src[pos++];
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xc0 && t <= 0xc3)) continue; // fixint, nil, (0xc1), bool
    if (t <= 0x8f) {
      pending += 2 * (t & 0x0f); // fixmap
      continue;
    }
    let elements = -1;
    if (t <= 0x9f)
      elements = t & 0x0f; // fixarray
    else if (t <= 0xbf) {
      pos += t & 0x1f; // fixstr
      continue;
    } else
      switch (t) {
        case 0xc4: // bin8, str8
        case 0xd9:
          if (pos + 1 > end) truncated();
          pos += 1 + src[pos];
          continue;
        case 0xc5: // bin16, str16
        case 0xda:
          if (pos + 2 > end) truncated();
          pos += 2 + src.readUInt16BE(pos);
          continue;
        case 0xc6: // bin32, str32
        case 0xdb:
          if (pos + 4 > end) truncated();
          pos += 4 + src.readUInt32BE(pos);
          continue;
        case 0xc7: // ext8: length, type, data
          if (pos + 1 > end) truncated();
          pos += 2 + src[pos];
          continue;
        case 0xc8:
          if (pos + 2 > end) truncated();
          pos += 3 + src.readUInt16BE(pos);
          continue;
        case 0xc9:
          if (pos + 4 > end) truncated();
          pos += 5 + src.readUInt32BE(pos);
          continue;
        case 0xca: // float32, uint32, int32
        case 0xce:
        case 0xd2:
          pos += 4;
          continue;
        case 0xcb: // float64, uint64, int64
        case 0xcf:
        case 0xd3:
          pos += 8;
          continue;
        case 0xcc:
        case 0xd0:
          pos += 1;
          continue;
        case 0xcd:
        case 0xd1:
          pos += 2;
          continue;
        case 0xd4: // fixext 1..16: type + data
          pos += 2;
          continue;
        case 0xd5:
          pos += 3;
          continue;
        case 0xd6:
          pos += 5;
          continue;
        case 0xd7:
          pos += 9;
          continue;
        case 0xd8:
          pos += 17;
          continue;
        case 0xdc: // array16
          if (pos + 2 > end) truncated();
          elements = src.readUInt16BE(pos);
          pos += 2;
          break;
        case 0xdd: // array32
          if (pos + 4 > end) truncated();
          elements = src.readUInt32BE(pos);
          pos += 4;
          break;
        case 0xde: // map16
          if (pos + 2 > end) truncated();
          pending += 2 * src.readUInt16BE(pos);
          pos += 2;
          continue;
        case 0xdf: // map32
          if (pos + 4 > end) truncated();
          pending += 2 * src.readUInt32BE(pos);
          pos += 4;
          continue;
      }
    // An array of `elements`: skip its leading float64s here, the rest item by item.
    while (elements > 0 && pos <= lastFloat && src[pos] === 0xcb) {
      pos += 9;
      elements--;
    }
    if (elements > 0) pending += elements;
  }
  if (pos > end) truncated();
  return pos;
}

/** [entry count, position of the first key] if a map starts at `pos`, else null. */
export function mapHeader(src: Buffer, pos: number): [number, number] | null {
  const t = src[pos];
  if (t >= 0x80 && t <= 0x8f) return [t & 0x0f, pos + 1];
  if (t === 0xde && pos + 3 <= src.length) return [src.readUInt16BE(pos + 1), pos + 3];
  if (t === 0xdf && pos + 5 <= src.length) return [src.readUInt32BE(pos + 1), pos + 5];
  return null;
}

/** [start, length] of a str (up to str16) at `pos`, or null when the item is not one. */
export function strAt(src: Buffer, pos: number): [number, number] | null {
  const t = src[pos];
  if (t >= 0xa0 && t <= 0xbf) return [pos + 1, t & 0x1f];
  if (t === 0xd9 && pos + 2 <= src.length) return [pos + 2, src[pos + 1]];
  if (t === 0xda && pos + 3 <= src.length) return [pos + 3, src.readUInt16BE(pos + 1)];
  return null;
}

/** [start, length] of a bin at `pos` whose bytes lie inside src, or null. */
export function binAt(src: Buffer, pos: number): [number, number] | null {
  const t = src[pos];
  let at: [number, number] | null = null;
  if (t === 0xc4 && pos + 2 <= src.length) at = [pos + 2, src[pos + 1]];
  else if (t === 0xc5 && pos + 3 <= src.length) at = [pos + 3, src.readUInt16BE(pos + 1)];
  else if (t === 0xc6 && pos + 5 <= src.length) at = [pos + 5, src.readUInt32BE(pos + 1)];
  return at !== null && at[0] + at[1] <= src.length ? at : null;
}

export function isAscii(src: Buffer, start: number, length: number): boolean {
  for (let i = start; i < start + length; i++) if (src[i] >= 0x80) return false;
  return true;
}

/** The item in src[start, end), decoded by msgpackr. */
export function unpackItem(src: Buffer, start: number, end: number): unknown {
  try {
    return unpackr.unpack(src.subarray(start, end));
  } catch (err) {
    throw new MsgpackScanError((err as Error).message);
  }
}

/** A map key that strAt does not read, as msgpackr names it in mapsAsObjects mode (it refuses keys of other types). */
export function otherKeyName(src: Buffer, start: number, end: number): string {
  const key = unpackItem(src, start, end);
  if (typeof key === "string") return key; // str32: legal, if unusual, for a key
  if (typeof key === "number" || typeof key === "boolean" || typeof key === "bigint" || key === null || key === undefined) return String(key);
  throw new MsgpackScanError("map key of an unsupported type");
}

/** The item in src[start, end): scalars that need no interpretation are read in place, the rest by msgpackr. */
export function readItem(src: Buffer, start: number, end: number): unknown {
  const t = src[start];
  if (t <= 0x7f) return t;
  if (t >= 0xe0) return t - 0x100;
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xcb:
      return src.readDoubleBE(start + 1);
    case 0xcc:
      return src[start + 1];
    case 0xcd:
      return src.readUInt16BE(start + 1);
    case 0xce:
      return src.readUInt32BE(start + 1);
    case 0xd0:
      return src.readInt8(start + 1);
    case 0xd1:
      return src.readInt16BE(start + 1);
    case 0xd2:
      return src.readInt32BE(start + 1);
  }
  // Short ASCII strings (view, entity, most string features) read in place; anything else —
  // multi-byte UTF-8 included — is left to msgpackr so its decoding rules apply unchanged.
  if (t >= 0xa0 && t <= 0xbf) {
    const length = t & 0x1f;
    if (start + 1 + length <= src.length && isAscii(src, start + 1, length)) return asciiAt(src, start + 1, length);
  } else if (t === 0xd9 && start + 2 <= src.length) {
    const length = src[start + 1];
    if (length <= 64 && start + 2 + length <= src.length && isAscii(src, start + 2, length)) return asciiAt(src, start + 2, length);
  } else if ((t >= 0x90 && t <= 0x9f) || t === 0xdc) {
    const floats = float64ArrayAt(src, start, end);
    if (floats !== null) return floats;
  } else if ((t === 0xd6 || t === 0xd7 || t === 0xc7) && end - start >= 6) {
    // The timestamp extension (type -1) of a timestamp feature: msgpackr's own arithmetic, in place.
    const date = timestampAt(src, start, end);
    if (date !== null) return date;
  }
  return unpackItem(src, start, end);
}

const fromCharCode = String.fromCharCode;

/**
 * A fixarray or array16 of float64s only (an embedding, as writers store it) in src[start, end),
 * read in place into a packed array (msgpackr reads float64 with DataView#getFloat64: the same
 * doubles); null for any other array, which the caller leaves to msgpackr.
 */
function float64ArrayAt(src: Buffer, start: number, end: number): number[] | null {
  const t = src[start];
  const count = t === 0xdc ? src.readUInt16BE(start + 1) : t & 0x0f;
  let pos = t === 0xdc ? start + 3 : start + 1;
  if (pos + 9 * count !== end || end > src.length) return null;
  const values: number[] = [];
  for (let i = 0; i < count; i++, pos += 9) {
    if (src[pos] !== 0xcb) return null;
    values.push(src.readDoubleBE(pos + 1));
  }
  return values;
}

/**
 * The ASCII bytes src[start, start + length) as a string (the caller checked they are ASCII).
 * String.fromCharCode over the bytes: ≈ 2× cheaper than Buffer#toString("latin1") for the short
 * strings features hold (its per-call set-up dominates below ≈ 32 bytes; bench/micro/signer-render.ts).
 */
function asciiAt(src: Buffer, start: number, length: number): string {
  if (length > 32) return src.toString("latin1", start, start + length);
  const codes: number[] = new Array(length);
  for (let i = 0; i < length; i++) codes[i] = src[start + i];
  return fromCharCode(...codes);
}

/**
 * The MessagePack timestamp extension (type -1) in src[start, end) — fixext 4, fixext 8, or ext 8
 * of 12 bytes — as a Date, with exactly the arithmetic of msgpackr 2.x's decoder
 * (currentExtensions[0xff] in msgpackr/unpack.js, quirks included: they are what every answer has
 * always said); null for any other item, which the caller leaves to msgpackr.
 */
export function timestampAt(src: Buffer, start: number, end: number): Date | null {
  const t = src[start];
  let d: number;
  let length: number;
  if (t === 0xd6) [d, length] = [start + 2, 4];
  else if (t === 0xd7) [d, length] = [start + 2, 8];
  else if (t === 0xc7 && src[start + 1] === 12) [d, length] = [start + 3, 12];
  else return null;
  if (src[d - 1] !== 0xff || d + length !== end || end > src.length) return null;
  if (length === 4) return new Date((src[d] * 0x1000000 + (src[d + 1] << 16) + (src[d + 2] << 8) + src[d + 3]) * 1000);
  if (length === 8) {
    return new Date(
      ((src[d] << 22) + (src[d + 1] << 14) + (src[d + 2] << 6) + (src[d + 3] >> 2)) / 1000000 +
        ((src[d + 3] & 0x3) * 0x100000000 + src[d + 4] * 0x1000000 + (src[d + 5] << 16) + (src[d + 6] << 8) + src[d + 7]) * 1000,
    );
  }
  return new Date(
    ((src[d] << 24) + (src[d + 1] << 16) + (src[d + 2] << 8) + src[d + 3]) / 1000000 +
      ((src[d + 4] & 0x80 ? -0x1000000000000 : 0) +
        src[d + 6] * 0x10000000000 +
        src[d + 7] * 0x100000000 +
        src[d + 8] * 0x1000000 +
        (src[d + 9] << 16) +
        (src[d + 10] << 8) +
        src[d + 11]) *
        1000,
  );
}

/** src[start, end) as the key a map entry is selected by: the wanted name, or null. */
export function selectKey(src: Buffer, start: number, end: number, selector: KeySelector): string | null {
  const str = strAt(src, start);
  return str ? selector.matchBytes(src, str[0], str[1]) : selector.matchString(otherKeyName(src, start, end));
}
