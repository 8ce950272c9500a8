// The reading practice page: the student picks a text, may listen to it first (sentence by
// sentence; a click on a word speaks that word), reads it aloud and sees each word light up as it
// is read (`reading_progress`), then the result word by word with the figures (`reading_result`).

import { SessionsApi } from "./api.js";
import { SessionSocket } from "./connection.js";
import { Microphone, startCapture } from "./microphone.js";
import { CLOSE_MESSAGES, Notice, format, showLevel } from "./notices.js";
import { Player, messageBytes, pcmOf } from "./player.js";

const config = JSON.parse(document.getElementById("practice-config").textContent);
const text = config.text;
const byId = (id) => document.getElementById(id);

const ui = {
  root: byId("practice"),
  list: byId("text-list"),
  texts: byId("texts"),
  noTexts: byId("no-texts"),
  reader: byId("reader"),
  title: byId("reader-title"),
  back: byId("back"),
  connection: byId("connection-status"),
  connectionLabel: document.querySelector("#connection-status .connection-label"),
  status: byId("reading-status"),
  words: byId("reading-text"),
  listen: byId("listen"),
  start: byId("start-reading"),
  done: byId("done-reading"),
  tryAgain: byId("try-again"),
  meter: byId("level-meter"),
  results: byId("results"),
};

// A sentence ends with its word, or the punctuation after it (Chinese punctuation is not a word).
const SENTENCE_END = /[.!?。！？…;；]/;
const EDGE_PUNCTUATION = /^[\p{P}\p{S}]+|[\p{P}\p{S}]+$/gu;

const api = new SessionsApi(config.apiBase);
const notice = new Notice(byId("notice"), byId("notice-text"), byId("notice-close"), text);
const player = new Player();
const microphone = new Microphone({
  targetRate: config.sampleRate,
  onFrame: (pcm) => socket?.sendOrQueue(pcm),
  onLevel: (level) => showLevel(ui.meter, level),
  onEnded: () => {
    notice.show(text.micEnded);
    if (phase === "reading") doneReading();
  },
});

let current = null; // the text being practised: {id, title, language, text, words: [{text, offset}]}
let wordButtons = []; // one per word of the text
let insertSlots = []; // before word i (and after the last): where inserted words are shown
let session = null;
let socket = null;
let phase = "idle"; // idle | listening | reading | checking | finished
let micStarting = false;
let sentences = []; // [first, last] word indexes
let listenQueue = []; // sentences still to speak
let speaking = null; // the request id of the sentence being spoken
let binaryReply = null; // a `tts_audio` header whose audio follows as a binary frame
let attempt = null; // the attempt whose progress is shown; older ones' late messages are ignored

// --- the list of texts -------------------------------------------------------------------------

function renderList() {
  ui.texts.replaceChildren(
    ...config.texts.map((choice) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "text-choice";
      button.dataset.textId = choice.id;
      const title = document.createElement("span");
      title.className = "text-title";
      title.textContent = choice.title;
      title.lang = choice.language === "zh" ? "zh-Hans" : "en";
      const meta = document.createElement("span");
      meta.className = "text-meta";
      const count = format(choice.language === "zh" ? text.charactersCount : text.wordsCount, {
        count: choice.words.length,
      });
      meta.textContent = `${text.languageNames[choice.language] || choice.language} · ${count}`;
      button.append(title, meta);
      button.addEventListener("click", () => openText(choice));
      item.append(button);
      return item;
    }),
  );
  ui.noTexts.textContent = text.noTexts;
  ui.noTexts.hidden = config.texts.length > 0;
}

function showView(view) {
  ui.root.dataset.view = view;
  ui.list.hidden = view !== "list";
  ui.reader.hidden = view !== "reader";
}

// --- the text, word by word --------------------------------------------------------------------

/** The text as written (spaces, punctuation, line breaks), each word a button that speaks it. */
function renderText(practice) {
  current = practice;
  ui.title.textContent = practice.title;
  ui.words.lang = practice.language === "zh" ? "zh-Hans" : "en";
  ui.words.dataset.language = practice.language;
  const nodes = [];
  wordButtons = [];
  insertSlots = [];
  let end = 0;
  practice.words.forEach((word, index) => {
    if (word.offset > end) nodes.push(document.createTextNode(practice.text.slice(end, word.offset)));
    const slot = document.createElement("span");
    slot.className = "inserts";
    insertSlots.push(slot);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "word";
    button.dataset.index = index;
    button.dataset.status = "pending";
    button.tabIndex = index === 0 ? 0 : -1; // one tab stop; the arrow keys move between words
    button.textContent = word.text;
    wordButtons.push(button);
    nodes.push(slot, button);
    end = word.offset + word.text.length;
  });
  const last = document.createElement("span");
  last.className = "inserts";
  insertSlots.push(last);
  nodes.push(last, document.createTextNode(practice.text.slice(end)));
  ui.words.replaceChildren(...nodes);
  sentences = splitSentences(practice);
}

function splitSentences(practice) {
  const found = [];
  let first = 0;
  practice.words.forEach((word, index) => {
    const next = practice.words[index + 1];
    const through = practice.text.slice(word.offset, next ? next.offset : practice.text.length);
    if (!next || SENTENCE_END.test(through)) {
      found.push([first, index]);
      first = index + 1;
    }
  });
  return found;
}

function sentenceText([first, last]) {
  const words = current.words;
  return current.text.slice(words[first].offset, words[last].offset + words[last].text.length);
}

/** A reading (`Reading.as_dict()` of the server) on the text: statuses, position, inserted words. */
function showReading(reading) {
  const finished = reading.finished;
  reading.words.forEach((word, index) => {
    const button = wordButtons[index];
    if (!button) return;
    button.dataset.status = word.status;
    button.classList.toggle("current", !finished && index === reading.position);
    const statusName = word.status === "pending" ? "" : text.statusNames[word.status];
    const heard = word.heard ? ` – ${format(text.heard, { heard: word.heard })}` : "";
    button.title = statusName ? statusName + heard : "";
    // Said with the word, not by its colour or line alone.
    if (finished) button.setAttribute("aria-label", `${word.text} (${statusName}${heard})`);
    else button.removeAttribute("aria-label");
  });
  for (const slot of insertSlots) slot.replaceChildren();
  for (const extra of reading.inserted) {
    const slot = insertSlots[extra.before];
    if (!slot) continue;
    const mark = document.createElement("ins");
    mark.className = "inserted";
    mark.textContent = extra.text;
    mark.title = text.statusNames.inserted;
    slot.append(mark);
  }
}

function clearReading() {
  for (const button of wordButtons) {
    button.dataset.status = "pending";
    button.classList.remove("current");
    button.title = "";
    button.removeAttribute("aria-label");
  }
  for (const slot of insertSlots) slot.replaceChildren();
  ui.results.hidden = true;
}

function showFigures(reading) {
  const figures = reading.figures;
  const zh = reading.language === "zh";
  byId("figure-accuracy").textContent = `${Math.round(figures.accuracy * 100)} %`;
  byId("figure-correct").textContent = `${figures.correct} / ${figures.total}`;
  byId("figure-wcpm-label").textContent = zh ? text.charactersPerMinute : text.wordsPerMinute;
  byId("figure-wcpm").textContent = String(Math.round(figures.wcpm));
  byId("figure-time").textContent = `${figures.readingTime.toFixed(1)} s`;
  byId("figure-pauses").textContent = figures.longPauses.length > 0 ? String(figures.longPauses.length) : text.noPauses;
  byId("figure-pause-list").textContent = figures.longPauses
    .map((pause) => {
      const word = current.words[pause.before];
      return format(text.pauseAt, { seconds: pause.duration.toFixed(1), word: word ? word.text : "" });
    })
    .join(", ");
  ui.results.hidden = false;
}

function showProgressLine(reading) {
  const template = reading.language === "zh" ? text.readingZh : text.reading;
  ui.status.textContent = format(template, { read: reading.position, total: reading.words.length });
}

// --- the session -------------------------------------------------------------------------------

async function openText(practice) {
  notice.clear();
  renderText(practice);
  clearReading();
  setPhase("idle");
  ui.status.textContent = text.ready;
  showView("reader");
  ui.title.focus?.();
}

/** The practice session of the text, opened on first use (listening or reading). */
async function openSession() {
  if (session) return true;
  try {
    session = await api.create({
      language: current.language,
      input_sample_rate: config.sampleRate,
      practice_text_id: current.id,
    });
  } catch (error) {
    notice.apiError(error);
    return false;
  }
  ui.root.dataset.sessionId = session.id;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new SessionSocket(`${scheme}://${location.host}${session.websocketUrl}`);
  socket.addEventListener("state", ({ detail }) => connectionChanged(detail));
  socket.addEventListener("connected", ({ detail }) => connected(detail));
  socket.addEventListener("message", ({ detail }) => onMessage(detail));
  socket.addEventListener("binary", ({ detail }) => onBinary(detail));
  socket.addEventListener("ended", ({ detail }) => sessionClosed(detail.reason));
  socket.open();
  return true;
}

function connected(data) {
  // The server's words of the text are the ones its progress counts (the text may have been
  // changed by the teacher since the page was loaded).
  const practice = data.practice;
  const changed = (other) => other.text !== current.text || JSON.stringify(other.words) !== JSON.stringify(current.words);
  if (practice && practice.id === current.id && changed(practice)) {
    stopListening();
    renderText(practice);
    clearReading();
  }
  socket.resume(data.audio_offset || 0);
}

function connectionChanged({ state, attempt: retry }) {
  if (state === "reconnecting" && ui.connection.dataset.state === "connected") player.stop();
  ui.connection.dataset.state = state;
  ui.connectionLabel.textContent = state === "reconnecting" ? format(text.reconnecting, { attempt: retry }) : text[state];
}

function sessionClosed(reason) {
  if (!session) return;
  notice.show(text[CLOSE_MESSAGES[reason]] || text.sessionClosed);
  dropSession();
}

function dropSession() {
  socket?.close();
  socket = null;
  session = null;
  delete ui.root.dataset.sessionId;
  if (microphone.active) microphone.stop();
  stopListening();
  attempt = null;
  setPhase(phase === "finished" ? "finished" : "idle");
}

/** Back to the list: the session ends (a student has only a few open at a time). */
function leaveText() {
  const open = session;
  dropSession();
  player.stop();
  if (open) api.end(open.id).catch(() => {});
  ui.connection.dataset.state = "idle";
  ui.connectionLabel.textContent = text.idle;
  showView("list");
}

// --- server messages ---------------------------------------------------------------------------

function onMessage({ type, data, attempt: number }) {
  switch (type) {
    case "reading_progress":
      if (isStale(number) || phase === "finished") return;
      attempt = number ?? attempt;
      showReading(data);
      showProgressLine(data);
      break;
    case "reading_result":
      if (isStale(number)) return;
      attempt = number ?? attempt;
      finished(data);
      break;
    case "tts_audio":
      if (data.encoding === "binary") binaryReply = data;
      else playSpeech(data, messageBytes(data));
      break;
    case "error":
      if (data.code === "nothing_read") nothingRead();
      else if (notice.socketError(data) && data.request_id) player.abandon(data.request_id);
      break;
  }
}

/** Progress of an attempt before "try again" that arrives after it. */
function isStale(number) {
  return attempt !== null && number != null && number < attempt;
}

/** "I'm done" before a word was heard: nothing to score, the student may start again. */
function nothingRead() {
  if (phase !== "checking") return;
  notice.show(text.nothingRead, "info");
  ui.status.textContent = text.ready;
  setPhase("idle");
}

/** The attempt's result: after "I'm done", or by itself once the reader reached the end. */
function finished(reading) {
  if (microphone.active) {
    microphone.stop();
    socket?.endUtterance();
  }
  showReading(reading);
  showFigures(reading);
  if (reading.attemptId != null) ui.results.dataset.attemptId = reading.attemptId;
  ui.status.textContent = text.finished;
  setPhase("finished");
}

function onBinary(buffer) {
  if (!binaryReply) return;
  playSpeech(binaryReply, new Uint8Array(buffer));
  binaryReply = null;
}

function playSpeech(data, bytes) {
  if (phase === "listening") speaking = data.request_id;
  player.enqueue(data.request_id, pcmOf(bytes, data.format, data.sample_rate), data.is_final);
}

// --- listening ---------------------------------------------------------------------------------

async function listen() {
  if (phase === "listening") {
    stopListening();
    return;
  }
  player.unlock();
  if (!(await openSession())) return;
  listenQueue = [...sentences];
  setPhase("listening");
  speakNext();
}

/** One sentence at a time: the next is asked for when this one has been heard to its end. */
function speakNext() {
  for (const button of wordButtons) button.classList.remove("speaking");
  const sentence = listenQueue.shift();
  if (!sentence) {
    stopListening();
    return;
  }
  for (let index = sentence[0]; index <= sentence[1]; index += 1) wordButtons[index].classList.add("speaking");
  const done = sentences.length - listenQueue.length;
  ui.status.textContent = format(text.listening, { sentence: done, sentences: sentences.length });
  speaking = null;
  say(sentenceText(sentence));
}

function stopListening() {
  listenQueue = [];
  for (const button of wordButtons) button.classList.remove("speaking");
  if (phase !== "listening") return;
  player.stop();
  socket?.sendJson({ type: "control", data: { command: "cancel" } });
  ui.status.textContent = text.ready;
  setPhase("idle");
}

function say(words) {
  socket.sendOrQueue(JSON.stringify({ type: "text_request", data: { text: words } }));
}

async function speakWord(index) {
  if (phase === "reading" || phase === "checking") return; // the microphone would hear it
  stopListening();
  player.unlock();
  player.stop();
  if (!(await openSession())) return;
  const word = current.words[index].text.replace(EDGE_PUNCTUATION, "") || current.words[index].text;
  say(word);
}

player.addEventListener("ended", ({ detail }) => {
  if (phase === "listening" && detail.requestId === speaking) speakNext();
});

// --- reading -----------------------------------------------------------------------------------

/** Whether the microphone is being started: the start button waits meanwhile. */
function setMicStarting(on) {
  micStarting = on;
  updateControls();
}

async function startReading() {
  if (microphone.active || micStarting) return;
  stopListening();
  player.stop();
  if (!(await startCapture({ microphone, player, openSession, notice, busy: setMicStarting }))) return;
  setPhase("reading");
  showProgressLine({ language: current.language, position: 0, words: current.words });
}

function doneReading() {
  if (microphone.active) microphone.stop();
  socket?.endUtterance();
  socket?.sendOrQueue(JSON.stringify({ type: "control", data: { command: "reading_done" } }));
  ui.status.textContent = text.checking;
  setPhase("checking");
}

function tryAgain() {
  socket?.sendOrQueue(JSON.stringify({ type: "control", data: { command: "reading_restart" } }));
  if (attempt !== null) attempt += 1;
  clearReading();
  setPhase("idle");
  ui.status.textContent = text.ready;
  startReading();
}

// --- controls ----------------------------------------------------------------------------------

function setPhase(next) {
  phase = next;
  ui.root.dataset.phase = next;
  ui.root.dataset.recording = String(next === "reading");
  updateControls();
}

function updateControls() {
  const busy = phase === "reading" || phase === "checking" || micStarting;
  ui.listen.textContent = phase === "listening" ? text.stopListening : text.listen;
  ui.listen.disabled = busy;
  ui.start.disabled = busy || phase === "finished";
  ui.start.hidden = phase === "finished";
  ui.done.disabled = phase !== "reading";
  ui.tryAgain.hidden = phase !== "finished";
}

function moveFocus(event) {
  const index = Number(event.target.dataset.index);
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
  if (step === undefined || Number.isNaN(index)) return;
  const next = wordButtons[Math.min(wordButtons.length - 1, Math.max(0, index + step))];
  event.preventDefault();
  for (const button of wordButtons) button.tabIndex = -1;
  next.tabIndex = 0;
  next.focus();
}

ui.words.addEventListener("click", (event) => {
  const button = event.target.closest(".word");
  if (button) speakWord(Number(button.dataset.index));
});
ui.words.addEventListener("keydown", moveFocus);
ui.listen.addEventListener("click", listen);
ui.start.addEventListener("click", startReading);
ui.done.addEventListener("click", doneReading);
ui.tryAgain.addEventListener("click", tryAgain);
ui.back.addEventListener("click", leaveText);
window.addEventListener("pagehide", () => {
  if (session) api.end(session.id, { keepalive: true }).catch(() => {});
  socket?.close();
});

renderList();
showView("list");
