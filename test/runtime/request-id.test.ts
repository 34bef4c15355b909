import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { requestIdOf } from "../../runtime/request-id";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function req(headers: IncomingMessage["headers"]): IncomingMessage {
  const r = new IncomingMessage(new Socket());
  r.headers = headers;
  return r;
}

describe("requestIdOf", () => {
  it.each(["abc", "trace-1.2:3/4+5=6_7", "A".repeat(128)])("keeps a sane inbound id %p", (id) => {
    expect(requestIdOf(req({ "x-request-id": id }))).toBe(id);
  });

  it.each([
    ["absent", undefined],
    ["empty", ""],
    ["too long", "A".repeat(129)],
    ["a space", "a b"],
    ["a quote", 'a"b'],
    ["a header break", "a\r\nx-injected: 1"],
    ["non-ASCII", "idé"],
  ])("replaces an inbound id that is %s with a fresh UUID", (_what, id) => {
    const got = requestIdOf(req(id === undefined ? {} : { "x-request-id": id }));
    expect(got).toMatch(UUID);
  });

  it("replaces a repeated header (an array) and gives each request its own id", () => {
    const a = requestIdOf(req({ "x-request-id": ["a", "b"] as unknown as string }));
    const b = requestIdOf(req({}));
    expect(a).toMatch(UUID);
    expect(a).not.toBe(b);
  });
});
