// The session's WebSocket (docs/protocol.md). It reconnects with backoff to the same session and
// loses no speech on the way: audio spoken while offline is queued, and the audio of an utterance
// the server had not finished is kept, so it can be sent again from where the saved transcript ends.

// Close codes after which reconnecting cannot help.
const FINAL_CLOSE_CODES = {
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
const BYTES_PER_SECOND = 32000; // 16 kHz PCM16 mono
// Together under the server's 2 s burst of MAX_BYTES_PER_SECOND (1 MiB/s by default).
const MAX_QUEUED_BYTES = 30 * BYTES_PER_SECOND;
const MAX_KEPT_BYTES = 20 * BYTES_PER_SECOND;
const MAX_MESSAGE_BYTES = BYTES_PER_SECOND; // queued audio goes out in 1 s messages

const END_OF_UTTERANCE = JSON.stringify({ type: "audio_chunk", data: { audio_data: "", is_final: true } });

export class SessionSocket extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.state = "idle";
    this.attempt = 0;
    this.socket = null;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastMessageAt = 0;
    this.holding = true; // connected, but queued audio waits for resume()
    this.queue = []; // ArrayBuffers (audio) and strings (JSON frames) not sent yet
    this.queuedBytes = 0;
    this.droppedBytes = 0;
    this.sent = this.newTimeline(0);
    this.previous = this.sent;
  }

  /** Audio sent on one connection, placed on the session's audio timeline (seconds). */
  newTimeline(offset) {
    return { offset, frames: [], keptBytes: 0, totalBytes: 0 };
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

  /** For messages that mean nothing later (ping, stats, cancel): dropped while offline. */
  sendJson(message) {
    if (!this.connected) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Audio (an ArrayBuffer of PCM16) or a JSON text frame; kept, in order, while offline. */
  sendOrQueue(item) {
    if (this.connected && !this.holding && this.queue.length === 0) {
      this.transmit(item);
      return;
    }
    this.queue.push(item);
    if (item instanceof ArrayBuffer) this.queuedBytes += item.byteLength;
    while (this.queuedBytes > MAX_QUEUED_BYTES) {
      const dropped = this.queue.shift();
      if (dropped instanceof ArrayBuffer) {
        this.queuedBytes -= dropped.byteLength;
        this.droppedBytes += dropped.byteLength;
      }
    }
  }

  endUtterance() {
    this.sendOrQueue(END_OF_UTTERANCE);
  }

  transmit(item) {
    this.socket.send(item);
    if (typeof item === "string") return;
    const sent = this.sent;
    sent.frames.push(item);
    sent.keptBytes += item.byteLength;
    sent.totalBytes += item.byteLength;
    while (sent.keptBytes > MAX_KEPT_BYTES) sent.keptBytes -= sent.frames.shift().byteLength;
  }

  /**
   * After `connected`: send again the audio the previous connection sent from `fromSeconds` on
   * (the session's timeline), then what was queued. Returns false when audio that far back was
   * no longer kept.
   */
  resume(fromSeconds) {
    if (!this.connected) return true; // lost again meanwhile: the next connection resumes
    const { offset, frames, keptBytes, totalBytes } = this.previous;
    let position = offset + (totalBytes - keptBytes) / BYTES_PER_SECOND;
    const complete = position <= fromSeconds + 0.05;
    const again = [];
    for (const frame of frames) {
      if (position >= fromSeconds - 0.05) again.push(frame);
      position += frame.byteLength / BYTES_PER_SECOND;
    }
    this.previous = this.newTimeline(0);
    this.holding = false;
    this.flush([...again, ...this.queue]);
    return complete;
  }

  flush(items) {
    this.queue = [];
    this.queuedBytes = 0;
    let parts = [];
    let size = 0;
    const sendParts = () => {
      if (parts.length > 0) this.transmit(concatenate(parts, size));
      parts = [];
      size = 0;
    };
    for (const item of items) {
      if (typeof item === "string") {
        sendParts();
        this.transmit(item);
        continue;
      }
      if (size + item.byteLength > MAX_MESSAGE_BYTES) sendParts();
      parts.push(item);
      size += item.byteLength;
    }
    sendParts();
    if (this.droppedBytes > 0) {
      this.emit("audio-dropped", { seconds: this.droppedBytes / BYTES_PER_SECOND });
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
      if (!this.holding) this.previous = this.sent; // else the last resume() never came: keep its audio
      this.sent = this.newTimeline(message.data.audio_offset || 0);
      this.holding = true;
      this.setState("connected");
      this.startPinging();
      this.emit("connected", { ...message.data, resumed });
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
        // A half-open connection: give it up without waiting for a close handshake.
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
