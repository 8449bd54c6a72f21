"""Splits audio into chunks that end in pauses, so no word is cut between two chunks."""

from __future__ import annotations

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from functions.common.audio import SAMPLE_RATE

# Short pauses count: between sentences espeak and people alike pause for 200-500 ms.
PAUSE_VAD = VadOptions(min_silence_duration_ms=150, speech_pad_ms=30)


def pause_near(samples: np.ndarray, nominal: int, search: int, floor: int = 0) -> int:
    """The sample index of the pause closest to ``nominal`` within ``search`` samples, else nominal."""
    low = max(floor + 1, nominal - search)
    high = min(len(samples), nominal + search)
    if high <= low:
        return min(nominal, len(samples))
    speech = get_speech_timestamps(samples[low:high], PAUSE_VAD, sampling_rate=SAMPLE_RATE)
    if not speech:
        return nominal
    # Pauses: before the first speech, between speech runs and after the last one.
    edges = [0] + [bound for run in speech for bound in (run["start"], run["end"])] + [high - low]
    pauses = [(edges[i] + edges[i + 1]) // 2 for i in range(0, len(edges), 2) if edges[i + 1] > edges[i]]
    if not pauses:
        return nominal
    return low + min(pauses, key=lambda middle: abs(low + middle - nominal))


def plan(
    samples: np.ndarray, chunk_s: float, search_s: float, last_is_end: bool = True
) -> list[tuple[int, int]]:
    """Chunks [begin, end) covering the samples, each about ``chunk_s`` long and ending in a pause.

    With ``last_is_end`` False the samples run on past what this call covers (one chunk of a
    longer file), so only the first chunk is planned and it always ends at a pause.
    """
    chunk, search = int(chunk_s * SAMPLE_RATE), int(search_s * SAMPLE_RATE)
    total = len(samples)
    windows: list[tuple[int, int]] = []
    begin = 0
    while begin < total:
        nominal = begin + chunk
        if nominal >= total and last_is_end:
            windows.append((begin, total))
            break
        end = pause_near(samples, min(nominal, total), search, floor=begin)
        windows.append((begin, end))
        if not last_is_end:
            break
        begin = end
    return windows
