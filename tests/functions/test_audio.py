"""Decoding a stretch of a long recording (functions/common/audio.py): what transcribe's chunks rest on."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import numpy as np
import pytest

from bench.sample_media import Speech, make_audio, soundtrack
from functions.common import audio

LENGTH_S = 120.0
# The formats people upload speech in, and what a video's soundtrack is (AAC).
FORMATS = [("ogg", "libopus"), ("mp4", "aac"), ("mp3", "libmp3lame"), ("wav", "pcm_s16le"), ("flac", "flac")]


@cache
def recording(container: str, codec: str) -> bytes:
    """Two minutes with a clip spoken every 7 s, so that every stretch holds speech."""
    clips = [Speech(float(start), ("fox", "report", "weather")[n % 3]) for n, start in enumerate(range(1, 110, 7))]
    return make_audio(soundtrack(clips, LENGTH_S), container, codec)


@pytest.mark.parametrize(("container", "codec"), FORMATS)
def test_a_late_chunk_decodes_about_itself_not_the_recording_before_it(
    container: str, codec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = recording(container, codec)  # made first: making it decodes the speech clips
    decoded: list[int] = []
    push = audio.Mono16k.push

    def counting(self: audio.Mono16k, frame: object) -> Iterator[np.ndarray]:
        for samples in push(self, frame):  # type: ignore[arg-type]
            decoded.append(len(samples))
            yield samples

    monkeypatch.setattr(audio.Mono16k, "push", counting)
    chunk = audio.decode_audio(data, 100.0, 10.0)
    assert chunk.start == pytest.approx(100.0, abs=0.01) and len(chunk.samples) == 10 * audio.SAMPLE_RATE
    # Decoding from the start to reach 100 s made each chunk of an hour's recording cost all those before it.
    assert sum(decoded) / audio.SAMPLE_RATE < 20, f"decoded {sum(decoded) / audio.SAMPLE_RATE:.0f} s for 10 s"


@pytest.mark.parametrize(("container", "codec"), FORMATS)
@pytest.mark.parametrize("start", [37.3, 100.0])
def test_a_chunk_holds_the_same_sound_as_the_whole_recording_there(container: str, codec: str, start: float) -> None:
    data = recording(container, codec)
    whole = audio.decode_audio(data)
    chunk = audio.decode_audio(data, start, 5.0)
    offset = round((chunk.start - whole.start) * audio.SAMPLE_RATE)
    same_span = whole.samples[offset:offset + len(chunk.samples)]
    # Right after a seek a decoder lacks what the frames before left it (measured without the pre-roll: up to
    # 0.63 in MP3's first 0.1 s); AAC differs by up to 0.02 anywhere, an inaudible rounding.
    assert len(chunk.samples) == 5 * audio.SAMPLE_RATE
    assert float(np.abs(chunk.samples - same_span).max()) < 0.05
