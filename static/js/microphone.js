// The microphone: getUserMedia → AudioWorklet (capture-worklet.js) → 100 ms PCM16 frames.

const WORKLET_URL = new URL("./capture-worklet.js", import.meta.url);

class MicrophoneError extends Error {
  constructor(reason, detail) {
    super(detail || reason);
    this.reason = reason; // denied | missing | busy | insecure | failed
  }
}

function reasonFor(failure) {
  switch (failure.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "denied";
    case "NotFoundError":
    case "OverconstrainedError":
      return "missing";
    case "NotReadableError":
      return "busy";
    default:
      return "failed";
  }
}

export class Microphone {
  /**
   * @param {object} options
   * @param {number} options.targetRate  samples per second sent to the server
   * @param {(pcm: ArrayBuffer) => void} options.onFrame  each 100 ms frame
   * @param {(level: number) => void} options.onLevel  0..1, once per frame
   * @param {() => void} options.onEnded  the device went away
   */
  constructor({ targetRate, onFrame, onLevel, onEnded }) {
    this.targetRate = targetRate;
    this.onFrame = onFrame;
    this.onLevel = onLevel;
    this.onEnded = onEnded;
    this.stream = null;
    this.context = null;
  }

  get active() {
    return this.stream !== null;
  }

  async start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new MicrophoneError("insecure");
    }
    let stream;
    try {
      // Echo cancellation keeps the spoken replies out of the microphone (else they would
      // interrupt themselves); noise suppression and automatic gain distort speech for Whisper.
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: false },
      });
    } catch (failure) {
      throw new MicrophoneError(reasonFor(failure), failure.message);
    }
    const context = new AudioContext({ latencyHint: "interactive" });
    try {
      await context.audioWorklet.addModule(WORKLET_URL);
      const node = new AudioWorkletNode(context, "pcm16-capture", {
        channelCount: 1,
        channelCountMode: "explicit",
        processorOptions: { targetRate: this.targetRate, frameSamples: this.targetRate / 10 },
      });
      node.port.onmessage = ({ data }) => {
        if (this.context !== context) return;
        this.onFrame(data.pcm);
        this.onLevel(levelOf(data.rms));
      };
      context.createMediaStreamSource(stream).connect(node);
      node.connect(context.destination); // the worklet outputs silence; this keeps it running
      await context.resume();
    } catch (failure) {
      stream.getTracks().forEach((track) => track.stop());
      context.close();
      throw new MicrophoneError("failed", failure.message);
    }
    stream.getAudioTracks()[0].addEventListener("ended", () => {
      if (this.stream === stream) {
        this.stop();
        this.onEnded();
      }
    });
    this.stream = stream;
    this.context = context;
  }

  stop() {
    if (!this.stream) return;
    this.stream.getTracks().forEach((track) => track.stop());
    this.context.close();
    this.stream = null;
    this.context = null;
    this.onLevel(0);
  }
}

/**
 * Opens the page's session and starts capture (the chat and practice pages alike). `busy(on)`
 * brackets the attempt, so a page disables its buttons meanwhile; a refused microphone is told
 * through `notice`. Resolves to whether capture started.
 */
export async function startCapture({ microphone, player, openSession, notice, busy }) {
  busy(true);
  player.unlock();
  try {
    if (!(await openSession())) return false;
    await microphone.start();
    return true;
  } catch (error) {
    notice.microphoneError(error);
    return false;
  } finally {
    busy(false);
  }
}

/** RMS amplitude to a 0..1 meter reading on a -60..0 dBFS scale. */
function levelOf(rms) {
  if (rms <= 0) return 0;
  return Math.max(0, Math.min(1, (20 * Math.log10(rms) + 60) / 60));
}
