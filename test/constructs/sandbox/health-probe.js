"use strict";
// Runs inside a network namespace of its own (test/constructs/runtime-netns.test.ts): an SSM stub
// on loopback, the runtime bundle started with the given environment, then the NLB's view of it:
// HTTP GETs to the host's private address, as the target group's health check does. Prints one
// JSON line with what it saw.
const http = require("node:http");
const { spawn } = require("node:child_process");

const [runtimeJs, envJson, privateAddress, port, keysDoc] = process.argv.slice(2);

function get(host, path) {
  return new Promise((resolve) => {
    const req = http.get({ host, port: Number(port), path, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => resolve({ error: err.code || err.message }));
  });
}

async function main() {
  const ssmCalls = [];
  const ssm = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      ssmCalls.push({ target: req.headers["x-amz-target"], body: JSON.parse(body || "{}") });
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      res.end(JSON.stringify({ Parameter: { Name: "/express-lane/api-keys", Type: "SecureString", Value: keysDoc, Version: 1 } }));
    });
  });
  await new Promise((r) => ssm.listen(0, "127.0.0.1", r));
  const env = {
    ...JSON.parse(envJson),
    PATH: process.env.PATH,
    EXPRESS_LANE_SSM_ENDPOINT: `http://127.0.0.1:${ssm.address().port}`,
    AWS_ACCESS_KEY_ID: "AKIASANDBOX",
    AWS_SECRET_ACCESS_KEY: "sandbox",
    AWS_EC2_METADATA_DISABLED: "true",
  };
  const child = spawn(process.execPath, [runtimeJs], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (c) => (err += c));
  const ready = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 20000);
    child.stdout.on("data", (c) => {
      out += c;
      if (out.includes('"event":"runtime_ready"')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.on("exit", () => resolve(false));
  });
  const result = { started: ready, ssmCalls };
  if (ready) {
    result.readyAtPrivateAddress = await get(privateAddress, "/health/ready");
    result.liveAtPrivateAddress = await get(privateAddress, "/health/live");
    result.readyAtLoopback = await get("127.0.0.1", "/health/ready");
  }
  child.kill("SIGTERM");
  ssm.close();
  result.log = (out + err)
    .split("\n")
    .filter((l) => l)
    .slice(-30);
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e && e.stack) }) + "\n");
});
