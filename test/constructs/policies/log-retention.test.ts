import { CloudwatchLogGroup } from "../../../constructs/aws";
import { LogRetention } from "../../../constructs/policies";
import { errorsOf } from "./helpers";

describe("EL-LOG-RETENTION", () => {
  test("compliant: retention set", () => expect(errorsOf(new LogRetention(), (s) => new CloudwatchLogGroup(s, "g", { name: "/x", retentionInDays: 30 }))).toEqual([]));
  test("non-compliant: retention unset", () => expect(errorsOf(new LogRetention(), (s) => new CloudwatchLogGroup(s, "g", { name: "/x" }))).toHaveLength(1));
  test('non-compliant: zero days ("never expire" spelled out)', () =>
    expect(errorsOf(new LogRetention(), (s) => new CloudwatchLogGroup(s, "g", { name: "/x", retentionInDays: 0 }))).toHaveLength(1));
});
