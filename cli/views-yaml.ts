/**
 * Reading a project's views file (views.yaml or views.json) with located errors: every problem is
 * reported as `file:line:col: views[0].features[2].type: …`, all of them at once. YAML is parsed
 * with the `yaml` package (a superset of JSON, so .json files go through the same path and keep
 * their line numbers); the checks are wire/views-file.ts's, the same the signer's default uses.
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument, isNode } from "yaml";
import type { ViewDocument } from "../wire/registry-document";
import { viewsFromFileValue, ViewsFileError, type ValuePath } from "../wire/views-file";

export function parseViewsText(text: string, source: string): ViewDocument[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      return `${source}${pos ? `:${pos.line}:${pos.col}` : ""}: ${e.message.split("\n")[0]}`;
    });
    throw new ViewsFileError(
      doc.errors.map((e) => ({ path: [], message: e.message })),
      lines,
    );
  }
  const locate = (path: ValuePath): string => {
    // The deepest node that exists on the path (a missing field points at its view or feature).
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as (string | number)[], true);
      if (isNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return `${source}:${pos.line}:${pos.col}`;
      }
    }
    return source;
  };
  return viewsFromFileValue(doc.toJS({ maxAliasCount: 0 }), source, locate);
}

export function readViewsFile(path: string): ViewDocument[] {
  return parseViewsText(readFileSync(path, "utf8"), path);
}
