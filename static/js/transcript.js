// The conversation on screen: one bubble per persisted entry (keyed by entry id, so a resumed
// or reconnected session never shows an entry twice), the live utterance (committed words solid,
// tentative words lighter) and the replies being spoken.

function normalise(text) {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s']/gu, " ")
    .split(/\s+/)
    .filter(Boolean)
    .join(" ");
}

export class Transcript {
  constructor({ list, live, emptyHint, scroller, text }) {
    this.list = list;
    this.live = live;
    this.liveCommitted = live.querySelector(".committed");
    this.liveTentative = live.querySelector(".tentative");
    this.emptyHint = emptyHint;
    this.scroller = scroller;
    this.text = text;
    this.utteranceId = null;
    this.replies = new Map(); // request id → bubble of a reply being spoken
  }

  clear() {
    this.list.replaceChildren();
    this.replies.clear();
    this.clearLive();
  }

  // --- bubbles ---------------------------------------------------------------------------------

  bubble(role, text, entryId) {
    const item = document.createElement("li");
    item.className = `bubble ${role}`;
    if (entryId != null) item.dataset.entryId = String(entryId);
    const speaker = document.createElement("span");
    speaker.className = "speaker";
    speaker.textContent = role === "user" ? this.text.you : this.text.tutor;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(speaker, " ", body);
    return item;
  }

  entryBubble(entryId) {
    return this.list.querySelector(`[data-entry-id="${entryId}"]`);
  }

  tag(item, label) {
    const note = document.createElement("span");
    note.className = "tag";
    note.textContent = label;
    item.append(" ", note);
  }

  /**
   * Merge the persisted transcript (from the entries API): entries already shown stay where they
   * are, missing ones are inserted in order. Replies and cut-off utterances that were only shown
   * live are replaced by their persisted entries; `spokenAgain` says the audio of a cut-off
   * utterance was sent again, so its words will come back as new transcription.
   */
  showHistory(entries, { spokenAgain = false } = {}) {
    this.list.querySelectorAll(".bubble.stale").forEach((item) => item.remove());
    const added = [];
    let previous = null;
    this.list.setAttribute("aria-busy", "true");
    for (const entry of entries) {
      let item = this.entryBubble(entry.id);
      if (!item) {
        item = this.bubble(entry.role, entry.text, entry.id);
        this.list.insertBefore(item, previous ? previous.nextSibling : this.list.firstChild);
        added.push(entry);
      }
      previous = item;
    }
    this.list.removeAttribute("aria-busy");
    this.reconcileCutOff(added, spokenAgain);
    this.changed();
  }

  /** Utterances cut off by a lost connection: dropped when saved or spoken again, else flagged. */
  reconcileCutOff(addedEntries, spokenAgain) {
    const saved = addedEntries.filter((entry) => entry.role === "user").map((entry) => normalise(entry.text));
    for (const item of this.list.querySelectorAll(".bubble.cut-off")) {
      const text = normalise(item.querySelector(".text").textContent);
      if (spokenAgain || saved.some((entry) => entry.startsWith(text) || text.startsWith(entry))) {
        item.remove();
      } else if (!item.classList.contains("unsaved")) {
        item.classList.add("unsaved");
        this.tag(item, this.text.notSaved);
      }
    }
  }

  // --- live transcription ----------------------------------------------------------------------

  /** A `transcription` message; returns true when it starts a new utterance (barge-in). */
  update(data) {
    const started = data.utterance_id !== this.utteranceId;
    this.utteranceId = data.utterance_id;
    if (data.is_final) {
      this.finish(data);
    } else {
      this.liveCommitted.textContent = data.committed;
      this.liveTentative.textContent = data.tentative;
      this.live.hidden = false;
    }
    this.changed();
    return started;
  }

  finish(data) {
    this.clearLive();
    const text = (data.committed || data.text || "").trim();
    this.replaceCutOff(text);
    if (!text || (data.entry_id != null && this.entryBubble(data.entry_id))) return;
    this.list.append(this.bubble("user", text, data.entry_id));
  }

  /** The final of an utterance cut off by a lost connection (the server finished it): it replaces
   * the provisional bubble. */
  replaceCutOff(text) {
    const final = normalise(text);
    for (const item of this.list.querySelectorAll(".bubble.cut-off")) {
      if (final.startsWith(normalise(item.querySelector(".text").textContent))) item.remove();
    }
  }

  /**
   * The connection dropped: keep the committed words of the utterance in progress as a
   * provisional bubble, and mark the replies shown live as stale (the history brings them back).
   * Returns whether an utterance was in progress.
   */
  cutOff() {
    const inProgress = !this.live.hidden;
    this.list.querySelectorAll(".bubble.assistant:not([data-entry-id])").forEach((item) => item.classList.add("stale"));
    this.replies.clear();
    const committed = this.liveCommitted.textContent.trim();
    if (committed) {
      const item = this.bubble("user", committed, null);
      item.classList.add("cut-off");
      this.tag(item, this.text.interrupted);
      this.list.append(item);
    }
    this.clearLive();
    this.utteranceId = null;
    this.changed();
    return inProgress;
  }

  clearLive() {
    this.liveCommitted.textContent = "";
    this.liveTentative.textContent = "";
    this.live.hidden = true;
  }

  // --- replies ---------------------------------------------------------------------------------

  replySentence(requestId, sentence) {
    let item = this.replies.get(requestId);
    if (!item) {
      item = this.bubble("assistant", "", null);
      item.dataset.requestId = requestId;
      this.replies.set(requestId, item);
      this.list.append(item);
    }
    const body = item.querySelector(".text");
    if (sentence.trim()) body.textContent = `${body.textContent} ${sentence.trim()}`.trim();
    this.changed();
  }

  replyDone(requestId) {
    this.replies.delete(requestId);
  }

  replyCancelled(requestId, deliveredText) {
    const item = this.replies.get(requestId);
    this.replies.delete(requestId);
    if (!item) return;
    if (!deliveredText.trim()) {
      item.remove();
    } else {
      item.querySelector(".text").textContent = deliveredText.trim();
      this.tag(item, this.text.interrupted);
    }
    this.changed();
  }

  // --- view ------------------------------------------------------------------------------------

  changed() {
    this.emptyHint.hidden = this.list.childElementCount > 0 || !this.live.hidden;
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}
