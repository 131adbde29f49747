// The errors this client rejects with. Each has a stable `name` to test for and says what
// happened in one line starting "sttfast: ", like the Go commands' errors.

/** Close codes of docs/PROTOCOL.md §6. */
export const CloseCode = Object.freeze({
  NO_ERROR: 0, PROTOCOL_VIOLATION: 1, IDLE_TIMEOUT: 2, FLOW_CONTROL: 3, STREAM_LIMIT: 4,
  INTERNAL: 5, REFUSED: 6, KEY_UPDATE: 7, SHUTTING_DOWN: 8, ABANDONED_WRITE: 9, PATH_TOO_NARROW: 10,
  APPLICATION_MIN: 0x100,
});

const codeText = {
  0: "no error", 1: "protocol violation", 2: "idle timeout", 3: "flow-control violation",
  4: "stream limit exceeded", 5: "internal error", 6: "refused: node at its session limit",
  7: "key update error", 8: "node shutting down", 9: "write abandoned", 10: "path too narrow",
};

/** Words for a close code. @param {number} code */
export function closeCodeText(code) {
  return codeText[code] ?? (code >= 0x100 ? `application code ${code}` : `code ${code}`);
}

/** connect() failed because the node does not hold our seed: it answered no HELLO (§3). */
export class SeedRefusedError extends Error {
  /** @param {string} url @param {number} hellos @param {number} ms */
  constructor(url, hellos, ms) {
    super(`sttfast: connect ${url}: the seed was refused: the node accepted the WebSocket but answered none of our ${hellos} HELLOs in ${ms} ms (it holds another seed)`);
    this.name = "SeedRefusedError";
  }
}

/** connect() failed before a session existed, for a reason other than the seed. */
export class ConnectError extends Error {
  /** @param {string} url @param {string} why */
  constructor(url, why) {
    super(`sttfast: connect ${url}: ${why}`);
    this.name = "ConnectError";
  }
}

/** The session ended; `code`, `reason` and `remote` say how (remote: the peer closed it). */
export class SessionClosedError extends Error {
  /** @param {number} code @param {string} reason @param {boolean} remote */
  constructor(code, reason, remote) {
    super(`sttfast: session closed by ${remote ? "the peer" : "us"}: ${closeCodeText(code)}${reason ? ` (${reason})` : ""}`);
    this.name = "SessionClosedError";
    this.code = code;
    this.reason = reason;
    this.remote = remote;
  }
}

/** A stream was aborted (STREAM_CLOSE) by the peer or by us, with an error code. */
export class StreamResetError extends Error {
  /** @param {number} id @param {number} code */
  constructor(id, code) {
    super(`sttfast: stream ${id} reset with code ${code}`);
    this.name = "StreamResetError";
    this.code = code;
  }
}
