// The session's WebSocket (docs/protocol.md): reconnects with backoff to the same session, keeps
// audio spoken while offline (bounded) and sends it once the server has taken the session back.

// Close codes after which reconnecting cannot help.
export const FINAL_CLOSE_CODES = {
  4000: "superseded",
  4401: "not_authenticated",
  4403: "forbidden",
  4404: "not_found",
  4409: "session_not_active",
};

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10000;
const PING_EVERY_MS = 15000;
const SILENT_LIMIT_MS = 40000; // no message at all for this long: the connection is dead
const PCM_BYTES_PER_SECOND = 32000; // 16 kHz PCM16 mono
const MAX_BACKLOG_BYTES = 30 * PCM_BYTES_PER_SECOND;
const MAX_MESSAGE_BYTES = PCM_BYTES_PER_SECOND; // backlog goes out in 1 s messages (under the rate limits)

export class SessionSocket extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.state = "idle";
    this.attempt = 0;
    this.backlog = [];
    this.backlogBytes = 0;
    this.droppedBytes = 0;
    this.socket = null;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastMessageAt = 0;
  }

  open() {
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(this.url);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => this.onMessage(event);
    socket.onclose = (event) => this.onClose(socket, event.code);
    this.socket = socket;
  }

  /** Stop for good (the session ended or the page is leaving). */
  close() {
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000);
      this.socket = null;
    }
    this.setState("closed");
  }

  get connected() {
    return this.state === "connected";
  }

  sendJson(message) {
    if (!this.connected) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Audio (an ArrayBuffer of PCM16) or a JSON text frame; kept, in order, while offline. */
  sendOrQueue(item) {
    if (this.connected && this.backlog.length === 0) {
      this.socket.send(item);
      return;
    }
    this.backlog.push(item);
    if (item instanceof ArrayBuffer) this.backlogBytes += item.byteLength;
    while (this.backlogBytes > MAX_BACKLOG_BYTES) {
      const dropped = this.backlog.shift();
      if (dropped instanceof ArrayBuffer) {
        this.backlogBytes -= dropped.byteLength;
        this.droppedBytes += dropped.byteLength;
      }
    }
  }

  endUtterance() {
    this.sendOrQueue(JSON.stringify({ type: "audio_chunk", data: { audio_data: "", is_final: true } }));
  }

  flushBacklog() {
    let parts = [];
    let size = 0;
    const sendParts = () => {
      if (parts.length > 0) this.socket.send(concatenate(parts, size));
      parts = [];
      size = 0;
    };
    for (const item of this.backlog) {
      if (typeof item === "string") {
        sendParts();
        this.socket.send(item);
        continue;
      }
      if (size + item.byteLength > MAX_MESSAGE_BYTES) sendParts();
      parts.push(item);
      size += item.byteLength;
    }
    sendParts();
    this.backlog = [];
    this.backlogBytes = 0;
    if (this.droppedBytes > 0) {
      this.emit("backlog-dropped", { seconds: this.droppedBytes / PCM_BYTES_PER_SECOND });
      this.droppedBytes = 0;
    }
  }

  onMessage(event) {
    this.lastMessageAt = performance.now();
    if (typeof event.data !== "string") {
      this.emit("binary", event.data);
      return;
    }
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "status" && message.data.event === "connected") {
      const resumed = this.attempt > 0;
      this.attempt = 0;
      this.setState("connected");
      this.startPinging();
      this.emit("connected", { ...message.data, resumed });
      this.flushBacklog();
      return;
    }
    this.emit("message", message);
  }

  onClose(socket, code) {
    if (socket !== this.socket) return;
    clearInterval(this.pingTimer);
    this.socket = null;
    const reason = FINAL_CLOSE_CODES[code];
    if (reason) {
      this.setState("closed");
      this.emit("ended", { code, reason });
      return;
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    this.attempt += 1;
    const backoff = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (this.attempt - 1));
    const delay = backoff * (0.75 + Math.random() * 0.5);
    this.setState("reconnecting");
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  startPinging() {
    this.lastMessageAt = performance.now();
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (performance.now() - this.lastMessageAt > SILENT_LIMIT_MS) {
        // Half-open connection: give it up without waiting for a close handshake.
        const dead = this.socket;
        dead.onclose = null;
        dead.close();
        this.onClose(dead, 1006);
        return;
      }
      this.sendJson({ type: "control", data: { command: "ping" } });
    }, PING_EVERY_MS);
  }

  setState(state) {
    this.state = state;
    this.emit("state", { state, attempt: this.attempt });
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

function concatenate(buffers, size) {
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const buffer of buffers) {
    joined.set(new Uint8Array(buffer), offset);
    offset += buffer.byteLength;
  }
  return joined.buffer;
}
