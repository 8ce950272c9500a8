// Spoken replies: `tts_audio` sentences queued back to back on one AudioContext (no gaps), with stop.

const START_LEAD_S = 0.05; // head room when the queue was empty

/** The bytes of a `tts_audio` message (hex or base64; for binary transport they come separately). */
export function messageBytes(data) {
  if (data.encoding === "base64") {
    const text = atob(data.audio_data || "");
    return Uint8Array.from(text, (char) => char.charCodeAt(0));
  }
  const hex = data.audio_data || "";
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(hex.substr(2 * i, 2), 16);
  return bytes;
}

/** PCM16 samples and their rate from `pcm_s16le` bytes or a WAV file. */
export function pcmOf(bytes, format, sampleRate) {
  if (format !== "wav") {
    return { samples: new Int16Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 2)), sampleRate };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let rate = sampleRate;
  for (let offset = 12; offset + 8 <= view.byteLength; ) {
    const id = String.fromCharCode(...bytes.subarray(offset, offset + 4));
    const size = view.getUint32(offset + 4, true);
    if (id === "fmt ") rate = view.getUint32(offset + 12, true);
    if (id === "data") {
      const start = bytes.byteOffset + offset + 8;
      const length = Math.min(size, view.byteLength - offset - 8);
      return { samples: new Int16Array(bytes.buffer.slice(start, start + length - (length % 2))), sampleRate: rate };
    }
    offset += 8 + size + (size % 2);
  }
  return { samples: new Int16Array(0), sampleRate: rate };
}

export class Player extends EventTarget {
  constructor() {
    super();
    this.context = null;
    this.nextStart = 0;
    this.sources = new Set();
    this.replies = new Map(); // request id → { playing: number, final: boolean }
    this.stopped = new Set(); // replies silenced here: their late sentences are not played
  }

  /** Create or resume the AudioContext; call from a user gesture so the browser allows sound. */
  unlock() {
    if (!this.context) this.context = new AudioContext({ latencyHint: "playback" });
    if (this.context.state === "suspended") this.context.resume();
  }

  get playing() {
    return this.sources.size > 0;
  }

  /** Queue one sentence of a reply; `isFinal` marks the reply's last message. */
  enqueue(requestId, { samples, sampleRate }, isFinal) {
    if (this.stopped.has(requestId)) return;
    this.unlock();
    const reply = this.replies.get(requestId) || { playing: 0, final: false };
    this.replies.set(requestId, reply);
    if (samples.length > 0) {
      const buffer = this.context.createBuffer(1, samples.length, sampleRate);
      const channel = buffer.getChannelData(0);
      for (let i = 0; i < samples.length; i += 1) channel[i] = samples[i] / 32768;
      const source = this.context.createBufferSource();
      source.buffer = buffer;
      source.connect(this.context.destination);
      const startAt = Math.max(this.nextStart, this.context.currentTime + START_LEAD_S);
      source.start(startAt);
      this.nextStart = startAt + buffer.duration;
      source.onended = () => {
        this.sources.delete(source);
        reply.playing -= 1;
        this.finishIfDone(requestId, reply);
      };
      this.sources.add(source);
      reply.playing += 1;
      this.emit("playing", { requestId });
    }
    if (isFinal) {
      reply.final = true;
      this.finishIfDone(requestId, reply);
    }
  }

  /** The server gave up on a reply: what already came plays out, then it counts as ended. */
  abandon(requestId) {
    const reply = this.replies.get(requestId);
    if (!reply) return;
    reply.final = true;
    this.finishIfDone(requestId, reply);
  }

  finishIfDone(requestId, reply) {
    if (!reply.final || reply.playing > 0) return;
    this.replies.delete(requestId);
    this.emit("ended", { requestId });
  }

  /** Silence everything queued now (stop button, barge-in). */
  stop() {
    if (this.sources.size === 0 && this.replies.size === 0) return;
    for (const requestId of this.replies.keys()) this.stopped.add(requestId);
    for (const source of this.sources) {
      source.onended = null;
      source.stop();
    }
    this.sources.clear();
    this.replies.clear();
    this.nextStart = 0;
    this.emit("stopped", {});
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
