/**
 * The one query grammar, for every route (the runtime applies it to each request with the route's
 * declared parameters, runtime/routes.ts; the signer applies it again to the raw query it signs).
 *
 *   query  = "" | "?" [ pair *( "&" pair ) ]      pair = name [ "=" value ]
 *
 * form-encoded (`+` is a space) and percent-decoded as UTF-8. One rule for what is off:
 * invalid percent-encoding, a parameter the route does not declare, and a parameter given twice
 * are each a 400 `bad_query` — never ignored, never taken as literal bytes. Empty pairs (`a=1&&b=2`,
 * a trailing `&`) carry nothing and are skipped, as URLSearchParams does.
 */
import { LaneError } from "./errors";

function decode(text: string): string {
  // Most names and values need no decoding (the runtime's per-read path: docs/performance.md "Session 7").
  if (text.indexOf("%") < 0 && text.indexOf("+") < 0) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    throw new LaneError("bad_query", "query is not valid percent-encoded UTF-8");
  }
}

/** Parse a raw query ("" or starting with "?") against the parameter names a route declares. */
export function parseQuery(query: string, allowed: readonly string[]): ReadonlyMap<string, string> {
  const params = new Map<string, string>();
  if (query === "" || query === "?") return params;
  for (const pair of (query.startsWith("?") ? query.slice(1) : query).split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "" : decode(pair.slice(eq + 1));
    if (!allowed.includes(name)) {
      throw new LaneError(
        "bad_query",
        allowed.length === 0 ? "this route takes no query parameters" : `unknown query parameter ${JSON.stringify(name.slice(0, 64))} (allowed: ${allowed.join(", ")})`,
      );
    }
    if (params.has(name)) throw new LaneError("bad_query", `${name} given more than once`);
    params.set(name, value);
  }
  return params;
}
