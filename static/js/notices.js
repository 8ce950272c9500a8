// What the chat and practice pages tell the student: the notice box, and the server's, the
// microphone's and the connection's refusals in the page's words (`text`, translated on the server).

/** Fill `{name}` placeholders of a translated template. */
export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => values[key]);
}

const API_MESSAGES = {
  server_full: "serverFull",
  too_many_sessions: "tooManySessions",
  language_unsupported: "languageUnsupported",
  language_unavailable: "languageUnavailable",
  not_authenticated: "notAuthenticated",
  forbidden: "forbidden",
  not_found: "notFound",
  session_not_active: "sessionExpired",
  network: "requestFailed",
};

const SOCKET_ERRORS = {
  rate_limited: "rateLimited",
  asr_failed: "asrFailed",
  asr_timeout: "asrFailed",
  tts_failed: "ttsFailed",
  responder_failed: "responderFailed",
};

// Refusals on connect are followed by a close code; the close explains them.
const REFUSAL_CODES = new Set(["not_authenticated", "invalid_token", "forbidden", "not_found", "session_not_active"]);

export const CLOSE_MESSAGES = {
  session_not_active: "sessionExpired",
  superseded: "superseded",
  not_authenticated: "notAuthenticated",
  forbidden: "forbidden",
  not_found: "notFound",
};

const MIC_MESSAGES = { denied: "micDenied", missing: "micMissing", busy: "micBusy", insecure: "micInsecure" };

export class Notice {
  constructor(box, message, closeButton, text) {
    this.box = box;
    this.message = message;
    this.text = text;
    closeButton.addEventListener("click", () => this.clear());
  }

  show(message, kind = "error") {
    this.message.textContent = message;
    this.box.dataset.kind = kind;
    this.box.hidden = false;
  }

  clear() {
    this.box.hidden = true;
    this.message.textContent = "";
  }

  get shown() {
    return this.message.textContent;
  }

  /** A refused REST call (api.js ApiError). */
  apiError(error) {
    const key = API_MESSAGES[error.code];
    this.show(key ? this.text[key] : format(this.text.serverError, { message: error.message }));
  }

  /**
   * A WebSocket `error` message; false for those the page does not show (a refusal on connect,
   * explained by the close that follows, and the `chunk_gap` warning).
   */
  socketError(data) {
    if (REFUSAL_CODES.has(data.code) || data.code === "chunk_gap") return false;
    const key = SOCKET_ERRORS[data.code];
    this.show(key ? this.text[key] : format(this.text.serverError, { message: data.message }), key ? "warning" : "error");
    return true;
  }

  /** The microphone could not start (microphone.js MicrophoneError). */
  microphoneError(error) {
    const key = MIC_MESSAGES[error.reason];
    this.show(key ? this.text[key] : format(this.text.micFailed, { detail: error.message }));
  }
}

/** The microphone's level on a `role="meter"` element. */
export function showLevel(meter, level) {
  meter.style.setProperty("--level", level.toFixed(3));
  meter.setAttribute("aria-valuenow", String(Math.round(level * 100)));
}
