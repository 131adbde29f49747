// What the tests against the real sttfast binary share: finding a WebSocket for Node, building
// and starting the binary on a free port, and seeded byte patterns to check data byte for byte.

import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const root = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * The WebSocket constructor to use: the platform's (browsers, Node >= 22), else the npm "ws"
 * package from the repository's node_modules (.ci/setup-node installs it), else null.
 * @returns {any}
 */
export function nodeWebSocket() {
  if (globalThis.WebSocket) return globalThis.WebSocket;
  try {
    const ws = createRequire(root + "package.json")("ws");
    return ws.WebSocket ?? ws;
  } catch {
    return null;
  }
}

/** Why the binary tests cannot run here, or "" when they can. */
export function skipReason() {
  if (!nodeWebSocket()) return "no WebSocket: Node < 22 and no npm ws package (run .ci/setup-node)";
  if (!existsSync(binary()) && spawnSync("go", ["version"]).status !== 0) return "no bin/sttfast and no go to build it";
  return "";
}

/** Path of bin/sttfast, built once if missing. */
export function binary() {
  return join(root, "bin", "sttfast");
}

function buildBinary() {
  if (existsSync(binary())) return;
  const r = spawnSync("go", ["build", "-o", binary(), "./cmd/sttfast"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error("go build ./cmd/sttfast failed");
}

/** A fresh random seed written to a temporary file; returns [hex, path]. */
export function newSeed() {
  const hex = Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(32))).toString("hex");
  const path = join(mkdtempSync(join(tmpdir(), "sttjs-")), "stt.seed");
  writeFileSync(path, hex + "\n", { mode: 0o600 });
  return [hex, path];
}

/**
 * Starts `sttfast <command> --addr ws://127.0.0.1:0/stt --seed FILE` and resolves once it
 * prints the address it listens on.
 * @param {string} command serve or relay @param {string} seedPath @param {string[]} [extra]
 */
export function startNode(command, seedPath, extra = []) {
  buildBinary();
  const proc = spawn(binary(), [command, "--addr", "ws://127.0.0.1:0/stt", "--seed", seedPath, ...extra], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error(`${command} did not start: ${log}`)); }, 20000);
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (d) => {
      log += d;
      const m = log.match(/listening on (ws:\/\/\S+)/);
      if (m && guard) {
        clearTimeout(guard);
        resolve({
          url: m[1], proc, log: () => log,
          /** Stops the node (SIGTERM: it closes every session with code 8) and waits for it. */
          stop: () => new Promise((r) => { if (proc.exitCode !== null) return r(proc.exitCode); proc.once("exit", r); proc.kill("SIGTERM"); }),
        });
      }
    });
    proc.once("exit", (code) => { clearTimeout(guard); reject(new Error(`${command} exited ${code}: ${log}`)); });
  });
}

export { pattern } from "./echo.js";

/** @param {Uint8Array} a @param {Uint8Array} b */
export function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
