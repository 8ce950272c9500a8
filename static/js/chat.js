// The voice chat page: opens or resumes a session, streams the microphone, shows the live
// transcript, plays the spoken replies and keeps the connection alive.

import { SessionsApi } from "./api.js";
import { SessionSocket } from "./connection.js";
import { Microphone, startCapture } from "./microphone.js";
import { CLOSE_MESSAGES, Notice, format, showLevel } from "./notices.js";
import { Player, messageBytes, pcmOf } from "./player.js";
import { Transcript } from "./transcript.js";

const config = JSON.parse(document.getElementById("chat-config").textContent);
const text = config.text;
const byId = (id) => document.getElementById(id);

const ui = {
  root: byId("chat"),
  connection: byId("connection-status"),
  connectionLabel: document.querySelector("#connection-status .connection-label"),
  lagWarning: byId("lag-warning"),
  start: byId("start-recording"),
  stop: byId("stop-recording"),
  meter: byId("level-meter"),
  elapsed: byId("elapsed"),
  recordingState: byId("recording-state"),
  replyForm: byId("reply-form"),
  replyText: byId("reply-text"),
  stopPlayback: byId("stop-playback"),
  playbackStatus: byId("playback-status"),
  sessionSelect: byId("session-select"),
  language: byId("session-language"),
  languageNote: byId("language-note"),
  openSession: byId("open-session"),
  endSession: byId("end-session"),
  refreshStats: byId("refresh-stats"),
};

const LAG_WARNING_S = 2;
const STATS_EVERY_MS = 10000;

const api = new SessionsApi(config.apiBase);
const notice = new Notice(byId("notice"), byId("notice-text"), byId("notice-close"), text);
const player = new Player();
const transcript = new Transcript({
  list: byId("transcript"),
  live: byId("live-utterance"),
  emptyHint: byId("empty-hint"),
  scroller: byId("transcript-scroll"),
  text,
});
const microphone = new Microphone({
  targetRate: config.sampleRate,
  onFrame: (pcm) => socket?.sendOrQueue(pcm),
  onLevel: (level) => showLevel(ui.meter, level),
  onEnded: () => {
    recordingStopped();
    notify(text.micEnded);
  },
});

let session = null; // the open session (REST shape), null when none
let socket = null;
let endingOnPurpose = false;
let utteranceCutOff = false; // the connection dropped while words were on screen
let micStarting = false;
let spaceHeld = false; // push-to-talk key is down
let recordingByKey = false;
let recordingSince = 0;
let elapsedTimer = null;
let statsTimer = null;
let binaryReply = null; // a `tts_audio` header whose audio follows as a binary frame

// --- messages to the student -------------------------------------------------------------------

function notify(message, kind = "error") {
  notice.show(message, kind);
}

function clearNotice() {
  notice.clear();
}

function notifyApiError(error) {
  notice.apiError(error);
  if (error.code === "language_unsupported") {
    config.languages[ui.language.value] = false; // the server knows best
    ui.languageNote.hidden = true; // the notice says it now: once on screen
  }
}

function onServerError(data) {
  if (!notice.socketError(data)) return;
  if (data.request_id) {
    player.abandon(data.request_id);
    transcript.replyDone(data.request_id);
  }
}

// --- sessions ----------------------------------------------------------------------------------

function formatTime(iso) {
  const options = { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
  return new Date(iso).toLocaleString(document.documentElement.lang, options);
}

function renderSessionChoices(selectedId) {
  const options = [new Option(text.newSession, "new")];
  for (const choice of config.sessions) {
    const language = text.languageNames[choice.language] || choice.language;
    options.push(new Option(`${formatTime(choice.createdAt)} · ${language}`, choice.id));
  }
  ui.sessionSelect.replaceChildren(...options);
  ui.sessionSelect.value = selectedId;
}

function chosenSession() {
  return config.sessions.find((choice) => choice.id === ui.sessionSelect.value) || null;
}

/** The Start/Resume button and the language follow the session picked. */
function showChoice() {
  const choice = chosenSession();
  ui.openSession.textContent = choice ? text.resumeSession : text.startSession;
  if (choice) ui.language.value = choice.language;
  languageChanged();
  updateControls();
}

/** A session picked to resume shows its history at once. */
async function sessionChoiceChanged() {
  showChoice();
  transcript.clear();
  const choice = chosenSession();
  if (!choice) return;
  try {
    transcript.showHistory(await api.entries(choice.id));
  } catch (error) {
    notifyApiError(error);
  }
}

/** The English-only warning under the language picker, only for a language the model cannot hear. */
function languageChanged() {
  if (notice.shown === text.languageUnsupported) clearNotice(); // a refusal of the previous choice
  const supported = config.languages[ui.language.value] !== false;
  ui.languageNote.textContent = supported ? "" : text.languageUnsupported;
  ui.languageNote.hidden = supported;
}

/** Open the chosen session (creating a new one if asked); false when that is refused. */
async function openSession() {
  if (session) return true;
  const choice = chosenSession();
  try {
    session = choice || (await api.create({ language: ui.language.value, input_sample_rate: config.sampleRate }));
  } catch (error) {
    notifyApiError(error);
    return false;
  }
  clearNotice();
  ui.root.dataset.sessionId = session.id;
  if (!choice) {
    config.sessions.unshift(session);
    renderSessionChoices(session.id);
    transcript.clear();
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new SessionSocket(`${scheme}://${location.host}${session.websocketUrl}`);
  socket.addEventListener("state", ({ detail }) => connectionChanged(detail));
  socket.addEventListener("connected", ({ detail }) => connected(detail));
  socket.addEventListener("message", ({ detail }) => onMessage(detail));
  socket.addEventListener("binary", ({ detail }) => onBinary(detail));
  socket.addEventListener("ended", ({ detail }) => sessionClosed(detail.reason));
  socket.addEventListener("audio-dropped", ({ detail }) =>
    notify(format(text.audioDropped, { seconds: Math.round(detail.seconds) }), "warning"),
  );
  socket.open();
  updateControls();
  return true;
}

async function connected({ resumed, resume_from: resumeFrom }) {
  if (resumed) clearNotice();
  requestStats();
  clearInterval(statsTimer);
  statsTimer = setInterval(requestStats, STATS_EVERY_MS);
  const current = socket;
  let history = null;
  try {
    history = await api.entries(session.id);
  } catch (error) {
    notifyApiError(error);
  }
  if (socket !== current) return;
  // Everything before the server's resume point is saved: the audio after it goes again. A
  // dropped connection's utterance was finished by the server (its final follows `connected`);
  // one lost with a crashed server is sent again (docs/protocol.md, "Reconnecting and resuming").
  const again = utteranceCutOff && history !== null;
  const complete = socket.resume(resumeFrom);
  utteranceCutOff = false;
  if (history) transcript.showHistory(history, { spokenAgain: again && complete });
}

function connectionChanged({ state, attempt }) {
  if (state === "reconnecting" && ui.connection.dataset.state === "connected") {
    // The server has stopped the reply and the utterance in progress with this connection.
    if (transcript.cutOff()) utteranceCutOff = true;
    player.stop();
    showLag(0);
  }
  ui.connection.dataset.state = state;
  ui.connectionLabel.textContent = state === "reconnecting" ? format(text.reconnecting, { attempt }) : text[state];
  updateControls();
}

/** The session cannot go on here: it ended, expired, moved to another tab or was refused. */
function sessionClosed(reason) {
  if (!session) return;
  const closed = session;
  notify(endingOnPurpose ? text.sessionClosed : text[CLOSE_MESSAGES[reason]], endingOnPurpose ? "info" : "error");
  endingOnPurpose = false;
  socket.close();
  socket = null;
  session = null;
  delete ui.root.dataset.sessionId;
  clearInterval(statsTimer);
  stopRecording();
  player.stop();
  showLag(0);
  // What the server saved of an utterance in progress replaces its live words.
  transcript.clearLive();
  api.entries(closed.id).then((entries) => transcript.showHistory(entries), () => {});
  api.stats(closed.id).then(showStats, () => {});
  // Moved to another tab: it can be taken back from here. Otherwise it is over.
  if (reason !== "superseded") config.sessions = config.sessions.filter((choice) => choice.id !== closed.id);
  renderSessionChoices(reason === "superseded" ? closed.id : "new");
  showChoice();
}

async function endSession() {
  if (!session) return;
  endingOnPurpose = true;
  try {
    await api.end(session.id);
  } catch (error) {
    if (error.code !== "session_not_active") {
      endingOnPurpose = false;
      notifyApiError(error);
      return;
    }
  }
  // A live socket hears `session_ended` and closes; one that is reconnecting does not.
  if (session && !socket.connected) sessionClosed("session_not_active");
}

// --- server messages ---------------------------------------------------------------------------

function onMessage({ type, data }) {
  switch (type) {
    case "transcription":
      if (transcript.update(data)) player.stop(); // a new utterance: barge-in
      showLag(data.is_final ? 0 : data.lag);
      if (data.is_final) requestStats();
      break;
    case "tts_audio":
      if (data.encoding === "binary") binaryReply = data;
      else playReply(data, messageBytes(data));
      break;
    case "status":
      onStatus(data);
      break;
    case "stats":
      showStats(data);
      break;
    case "error":
      onServerError(data);
      break;
  }
}

function onBinary(buffer) {
  if (!binaryReply) return;
  playReply(binaryReply, new Uint8Array(buffer));
  binaryReply = null;
}

function playReply(data, bytes) {
  transcript.replySentence(data.request_id, data.text || "");
  player.enqueue(data.request_id, pcmOf(bytes, data.format, data.sample_rate), data.is_final);
  if (data.is_final) transcript.replyDone(data.request_id);
}

function onStatus(data) {
  if (data.event === "reply_cancelled") {
    player.stop();
    transcript.replyCancelled(data.request_id, data.delivered_text || "");
  } else if (data.event === "tts_fallback") {
    notify(text.ttsFallback, "info");
  }
}

function showLag(lag) {
  const lagging = lag > LAG_WARNING_S;
  ui.lagWarning.hidden = !lagging;
  if (lagging) ui.lagWarning.textContent = format(text.lag, { seconds: lag.toFixed(1) });
}

// --- statistics --------------------------------------------------------------------------------

function requestStats() {
  if (socket?.connected) socket.sendJson({ type: "control", data: { command: "stats" } });
  else if (session) api.stats(session.id).then(showStats, notifyApiError);
}

function showStats(stats) {
  const seconds = (value) => `${value.toFixed(1)} s`;
  const shown = {
    conversationEntries: String(stats.conversationEntries),
    audioSeconds: seconds(stats.audioSeconds),
    bufferSize: seconds(stats.bufferSize / 2 / config.sampleRate),
    pendingTranscriptions: String(stats.pendingTranscriptions),
    pendingResponses: String(stats.pendingResponses),
    createdAt: formatTime(stats.createdAt),
    lastActivity: formatTime(stats.lastActivity),
    status: text.statusNames[stats.status] || stats.status,
  };
  for (const [name, value] of Object.entries(shown)) {
    document.querySelector(`[data-stat="${name}"]`).textContent = value;
  }
}

// --- microphone --------------------------------------------------------------------------------

/** Whether the microphone is being started: the start button waits meanwhile. */
function setMicStarting(on) {
  micStarting = on;
  updateControls();
}

async function startRecording({ byKey = false } = {}) {
  if (microphone.active || micStarting) return;
  if (!(await startCapture({ microphone, player, openSession, notice, busy: setMicStarting }))) return;
  recordingSince = performance.now();
  showElapsed();
  elapsedTimer = setInterval(showElapsed, 250);
  ui.root.dataset.recording = "true";
  ui.recordingState.textContent = text.recording;
  updateControls();
  recordingByKey = byKey;
  if (byKey && !spaceHeld) stopRecording(); // released while the microphone was starting
}

function stopRecording() {
  recordingByKey = false;
  if (!microphone.active) return;
  microphone.stop();
  socket?.endUtterance();
  recordingStopped();
}

function recordingStopped() {
  clearInterval(elapsedTimer);
  ui.root.dataset.recording = "false";
  ui.recordingState.textContent = text.notRecording;
  updateControls();
}

function showElapsed() {
  const seconds = Math.floor((performance.now() - recordingSince) / 1000);
  ui.elapsed.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

// --- playback ----------------------------------------------------------------------------------

function playbackChanged(state, label) {
  ui.root.dataset.playback = state;
  ui.playbackStatus.textContent = label;
  ui.stopPlayback.disabled = state !== "playing";
}

player.addEventListener("playing", () => playbackChanged("playing", text.speaking));
player.addEventListener("ended", () => {
  if (!player.playing) playbackChanged("ended", text.replyFinished);
});
player.addEventListener("stopped", () => playbackChanged("stopped", text.playbackStopped));

function stopPlayback() {
  player.stop();
  socket?.sendJson({ type: "control", data: { command: "cancel" } });
}

async function sendText(event) {
  event.preventDefault();
  const message = ui.replyText.value.trim();
  if (!message) return;
  player.unlock();
  if (!(await openSession())) return;
  socket.sendOrQueue(JSON.stringify({ type: "text_request", data: { text: message } }));
  ui.replyText.value = "";
}

// --- controls ----------------------------------------------------------------------------------

function updateControls() {
  const open = session !== null;
  ui.start.disabled = microphone.active || micStarting;
  ui.stop.disabled = !microphone.active;
  ui.sessionSelect.disabled = open;
  ui.language.disabled = open || chosenSession() !== null;
  ui.openSession.disabled = open;
  ui.endSession.disabled = !open;
  ui.refreshStats.disabled = !open;
}

function typingTarget(target) {
  return target.closest("input, textarea, select, button, a, [contenteditable]") !== null;
}

document.addEventListener("keydown", (event) => {
  if (event.code === "Space" && !event.repeat && !typingTarget(event.target)) {
    event.preventDefault();
    spaceHeld = true;
    startRecording({ byKey: true });
  } else if (event.key === "Escape" && player.playing) {
    stopPlayback();
  }
});

document.addEventListener("keyup", (event) => {
  if (event.code !== "Space") return;
  spaceHeld = false;
  if (recordingByKey) {
    event.preventDefault();
    stopRecording();
  }
});

ui.start.addEventListener("click", () => startRecording());
ui.stop.addEventListener("click", stopRecording);
ui.stopPlayback.addEventListener("click", stopPlayback);
ui.replyForm.addEventListener("submit", sendText);
ui.openSession.addEventListener("click", () => {
  player.unlock();
  openSession();
});
ui.endSession.addEventListener("click", endSession);
ui.refreshStats.addEventListener("click", requestStats);
ui.sessionSelect.addEventListener("change", sessionChoiceChanged);
ui.language.addEventListener("change", languageChanged);
window.addEventListener("pagehide", () => socket?.close());

renderSessionChoices(config.sessions.length > 0 ? config.sessions[0].id : "new");
sessionChoiceChanged();
