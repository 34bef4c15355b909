// Shared jest setup. cdktf's matchers are registered here so stack tests can use them.
import { Testing } from "cdktf";
Testing.setupJest();

// The CLI reads a local lane's lane.json from .lane (cli/lane-config.ts): a developer's own
// `npm start` in this checkout must not change what in-process CLI tests see.
import { join as joinPath } from "node:path";
import { tmpdir as osTmpdir } from "node:os";
process.env.EXPRESS_LANE_DATA_DIR ??= joinPath(osTmpdir(), "express-lane-tests-no-lane-json");
