// A static file server for the browser tests and the demo: serves clients/js on 127.0.0.1 (a
// secure context, so WebCrypto is there) with the content types module scripts need.

import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const base = fileURLToPath(new URL("../", import.meta.url));
const types = { ".js": "text/javascript", ".html": "text/html; charset=utf-8", ".json": "application/json", ".png": "image/png", ".css": "text/css" };

/** Starts the server on a free port; resolves to {origin, close}. */
export function serveClientFiles() {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    if (path.includes("..")) { res.writeHead(403).end(); return; }
    const file = join(base, path.endsWith("/") ? path + "index.html" : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => {
    const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
    resolve({ origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) });
  }));
}
