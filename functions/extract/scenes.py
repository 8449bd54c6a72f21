"""Scene changes from frame differences on small colour thumbnails."""

from __future__ import annotations

import numpy as np

# Small enough to wash out compression noise and camera shake, large enough to see a cut.
# Colour rather than gray: cuts between scenes of equal brightness (red to green) are common.
THUMB_SIZE = (64, 36)


class SceneDetector:
    """Decides which frames become keyframes: the first, then each new scene.

    A frame is compared with the last keyframe rather than with the frame before it, so a cut
    too soon after a keyframe is still caught once ``interval`` has passed, and a slow pan or
    fade that drifts far enough counts as a new scene too.
    """

    def __init__(self, threshold: float, interval: float, limit: int) -> None:
        self.threshold, self.interval, self.limit = threshold, interval, limit
        self.count = 0
        self._last_time = 0.0
        self._last: np.ndarray | None = None

    @property
    def full(self) -> bool:
        return self.count >= self.limit

    def offer(self, time: float, thumb: np.ndarray) -> float | None:
        """The frame's difference score when it becomes a keyframe, else None."""
        pixels = thumb.astype(np.float32)
        if self._last is None:
            score = 255.0
        else:
            if self.full or time - self._last_time < self.interval:
                return None
            score = float(np.mean(np.abs(pixels - self._last)))
            if score < self.threshold:
                return None
        self._last, self._last_time = pixels, time
        self.count += 1
        return score
