"""eSpeak NG through ctypes: Chinese and every language other than English. Robotic, but tiny,
instant, and it speaks about a hundred languages, Mandarin included."""

import ctypes
import threading

from streaming.engines.tts.base import Synthesis, TtsError, TtsUnavailable, normalise_language, primary_language

_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_Synth returns once the callback has had every sample
_INITIALIZE_DONT_EXIT = 0x8000  # report bad data with a return value instead of exit(1) of the whole worker
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # keep the pause after the last sentence: pieces are played back to back
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated code) pairs, ended by a 0 priority
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class _EspeakLibrary:
    """The process's one libespeak-ng. It keeps global state (current voice, output callback) and is
    not re-entrant, so every call after initialisation holds `lock`."""

    def __init__(self) -> None:
        try:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (ImportError, OSError, RuntimeError) as exc:
            raise TtsUnavailable(f"eSpeak NG is not available: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise TtsUnavailable(f"espeak_Initialize failed with data at {data_path}")
        self._lib = lib
        self.lock = threading.Lock()
        self._samples: list[bytes] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # referenced here: C keeps only the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.voices = self._list_voices()

    def _list_voices(self) -> dict[str, str]:
        """Language code -> identifier of eSpeak's preferred voice for it (lowest priority number)."""
        best: dict[str, tuple[int, str]] = {}
        entries = self._lib.espeak_ListVoices(None)
        i = 0
        while entries[i]:
            voice = entries[i].contents
            address = voice.languages
            while priority := ctypes.c_ubyte.from_address(address).value:
                raw = ctypes.string_at(address + 1)
                address += len(raw) + 2
                code = raw.decode()
                if code not in best or priority < best[code][0]:
                    best[code] = (priority, voice.identifier.decode())
            i += 1
        return {code: identifier for code, (_, identifier) in best.items()}

    def _collect(self, wav: "ctypes._Pointer[ctypes.c_short]", num_samples: int, _events: int | None) -> int:
        if num_samples > 0:
            self._samples.append(ctypes.string_at(wav, num_samples * 2))
        return 0  # 0: continue synthesis

    def synthesize(self, voice: str, text: str) -> bytes:
        data = text.encode("utf-8") + b"\0"
        with self.lock:
            if self._lib.espeak_SetVoiceByName(self.voices[voice].encode()) != 0:
                raise TtsError(f"eSpeak NG could not select voice {voice!r}")
            self._samples = []
            status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
            pcm = b"".join(self._samples)
        if status != 0:
            raise TtsError(f"espeak_Synth failed with status {status} for {text[:40]!r}")
        return pcm


_espeak: _EspeakLibrary | None = None
_espeak_lock = threading.Lock()


def _espeak_library() -> _EspeakLibrary:
    global _espeak
    with _espeak_lock:
        if _espeak is None:
            _espeak = _EspeakLibrary()
        return _espeak


def espeak_voice_for(language: str) -> str | None:
    """eSpeak NG's voice code for a language ("zh-CN" -> "cmn", "fr-CA" -> "fr"), None if it has none."""
    code = "cmn" if primary_language(language) == "zh" else normalise_language(language)
    voices = _espeak_library().voices
    for candidate in (code, code.split("-")[0]):
        if candidate in voices:
            return candidate
    return None


class EspeakEngine:
    """eSpeak NG through ctypes: formant synthesis, hundreds of times faster than real time."""

    name = "espeak"

    def __init__(self, voice: str = "en") -> None:
        self._library = _espeak_library()
        resolved = espeak_voice_for(voice)
        if resolved is None:
            raise TtsUnavailable(f"eSpeak NG has no voice for {voice!r}")
        self.voice = resolved
        self.sample_rate = self._library.sample_rate

    def supports(self, language: str) -> bool:
        """Whether any eSpeak NG voice speaks `language` (the router picks the instance for it)."""
        return espeak_voice_for(language) is not None

    def synthesize(self, text: str, language: str) -> Synthesis:
        return Synthesis(self._library.synthesize(self.voice, text), self.sample_rate)
