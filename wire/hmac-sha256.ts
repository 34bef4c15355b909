/**
 * HMAC-SHA256 for one fixed key, spelled out as RFC 2104 §2 with the key's pads computed once:
 *
 *   HMAC(K, m) = H((K' ⊕ opad) ‖ H((K' ⊕ ipad) ‖ m))     K' = K zero-padded to the 64-byte block
 *                                                          (a key longer than a block is hashed first)
 *
 * Why not node's createHmac: the object seal (enclave/seal.ts) MACs every object the signer serves,
 * and a CPU profile of a proven 100-entity batch put createHmac's constructor, update and digest at
 * ≈ 19 % of the signer's time. Two one-shot `crypto.hash` calls over precomputed pads cost 0.56× of
 * createHmac at 200 B and 0.65× at 4 KB (bench/micro/hmac.ts; docs/performance.md, session 6).
 * The output is byte-for-byte createHmac's (test/wire/hmac-sha256.test.ts checks it against
 * createHmac for random keys and messages). Comparing MACs stays with the caller (timingSafeEqual).
 *
 * In wire/ because both sides use it: writers seal (cli, through enclave/seal.ts) and the enclave
 * verifies, with the one implementation. Not safe for concurrent use of one instance, which JS
 * cannot do anyway (each worker thread builds its own keyring).
 */
import { hash } from "node:crypto";

/** SHA-256's block size in bytes (RFC 2104: B = 64). */
const BLOCK = 64;
const DIGEST = 32;
const EMPTY = new Uint8Array(0);

export class HmacSha256 {
  /** (K' ⊕ ipad) ‖ message, reused across calls; grown (doubling) when a message does not fit. */
  private inner: Buffer;
  /** (K' ⊕ opad) ‖ inner hash. */
  private readonly outer = Buffer.alloc(BLOCK + DIGEST);
  private readonly ipad = Buffer.alloc(BLOCK, 0x36);

  constructor(key: Uint8Array, initialMessageBytes = 4096) {
    const k = key.length > BLOCK ? hash("sha256", key, "buffer") : key;
    this.outer.fill(0x5c, 0, BLOCK);
    for (let i = 0; i < k.length; i++) {
      this.ipad[i]! ^= k[i]!;
      this.outer[i]! ^= k[i]!;
    }
    this.inner = Buffer.alloc(BLOCK + initialMessageBytes);
    this.ipad.copy(this.inner, 0);
  }

  /**
   * HMAC over head ‖ tail (the message in two parts, as a domain prefix and a body; no concatenation
   * by the caller). Allocates only the 32-byte result (and the hash calls' own strings).
   */
  mac(head: Uint8Array, tail: Uint8Array = EMPTY): Buffer {
    const length = BLOCK + head.length + tail.length;
    if (length > this.inner.length) {
      this.inner = Buffer.alloc(Math.max(length, 2 * this.inner.length));
      this.ipad.copy(this.inner, 0);
    }
    this.inner.set(head, BLOCK);
    this.inner.set(tail, BLOCK + head.length);
    // "binary" strings, not "buffer": node 20's hash() is measurably faster returning a string here
    // (measured next to bench/micro/hmac.ts), and latin1 maps each byte to one char and back exactly.
    this.outer.write(hash("sha256", this.inner.subarray(0, length), "binary"), BLOCK, "binary");
    return Buffer.from(hash("sha256", this.outer, "binary"), "binary");
  }
}
