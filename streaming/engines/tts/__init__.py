"""Speech synthesis: one module per engine (piper, espeak, coqui), the sentence cache, the
router that picks an engine per language, and WAV output; `base` holds what they share."""
