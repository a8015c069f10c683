"""Offline speech synthesis with the libespeak-ng that the `espeakng-loader` wheel bundles.

The library is driven through ctypes in synchronous mode: a callback collects the 16-bit
samples espeak produces, so nothing touches a sound device and nothing is downloaded.

espeak-ng carries hidden state from one utterance to the next (its random numbers, the phase
of its pitch flutter), so the same request sounds slightly different depending on what was
said before, and reinitialising does not reset it. To make each clip depend on its own request
only, a small helper process initialises an engine that never speaks itself and forks a fresh
copy of it for every utterance.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import weakref
from multiprocessing.connection import Connection

import numpy as np

SAMPLE_RATE = 22_050
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Engine:
    """An initialised libespeak-ng in this process."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path().encode()
        sample_rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if sample_rate != SAMPLE_RATE:
            raise RuntimeError(
                f"espeak-ng initialised at {sample_rate} Hz, expected {SAMPLE_RATE} Hz; "
                "reinstall espeakng-loader"
            )
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._collect)
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]

    def _collect(self, samples, count: int, _events) -> int:
        if samples and count > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0

    def speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        """16-bit samples of `text` spoken by `voice` at `rate` words/minute and `pitch` 0-99."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        self._lib.espeak_SetParameter(_RATE, rate, 0)
        self._lib.espeak_SetParameter(_PITCH, pitch, 0)
        self._chunks = []
        encoded = text.encode("utf-8")
        status = self._lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        if status != 0:
            raise RuntimeError(f"espeak-ng failed to speak {text!r} (status {status})")
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)


def _serve(connection: Connection) -> None:
    """Helper process: answer each request from a freshly forked copy of a silent engine."""
    try:
        engine = _Engine()
    except Exception as error:
        connection.send(f"espeak-ng could not start: {error}")
        return
    connection.send("ready")
    while (request := connection.recv()) is not None:
        child = os.fork()
        if child == 0:
            try:
                connection.send(engine.speak(*request))
            except Exception as error:
                connection.send(str(error))
            finally:
                os._exit(0)
        os.waitpid(child, 0)


class EspeakSynthesizer:
    """Speech for the demo: identical requests give identical samples, in any order."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, theirs = context.Pipe()
        helper = context.Process(target=_serve, args=(theirs,), daemon=True,
                                 name="espeak-helper")
        helper.start()
        theirs.close()
        status = self._connection.recv()
        if status != "ready":
            raise RuntimeError(status)
        weakref.finalize(self, _stop, self._connection, helper)

    def speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        """Speak `text`; mono float32 samples in [-1, 1] at `SAMPLE_RATE`."""
        self._connection.send((text, voice, rate, pitch))
        answer = self._connection.recv()
        if isinstance(answer, str):
            raise RuntimeError(answer)
        return answer.astype(np.float32) / 32768.0


def _stop(connection: Connection, helper: multiprocessing.Process) -> None:
    connection.send(None)
    helper.join(timeout=5)
    connection.close()
