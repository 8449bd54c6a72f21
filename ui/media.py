"""Presigned URLs for what the pages show of an upload: its thumbnail and the pictures faces were found in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scheduler.service import IMAGE_PICTURE, Keyframe, MalformedName, Pipeline, UploadNotFound

THUMBNAIL = "thumbnail.jpg"


class Pictures:
    """Looks up each upload's records once, however many hits or faces point at it."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.store = pipeline.store
        self._artefacts: dict[str, dict[str, str]] = {}

    def _artefact_keys(self, upload_id: str) -> dict[str, str]:
        if upload_id not in self._artefacts:
            self._artefacts[upload_id] = self.pipeline.artefacts(upload_id)
        return self._artefacts[upload_id]

    def _artefact_url(self, upload_id: str, name: str) -> str | None:
        key = self._artefact_keys(upload_id).get(name)
        return self.store.browser_url(self.store.settings.artefacts_bucket, key) if key else None

    def thumbnail(self, upload_id: str) -> str | None:
        """The upload's small preview; None for media without one (audio) or before it is made."""
        return self._artefact_url(upload_id, THUMBNAIL)

    def picture(self, upload_id: str, picture: str) -> str | None:
        """The full picture the analyzers looked at: the uploaded image, or a video keyframe (``kf3``).

        The index names a face's picture ``<upload>:<frame>``; a bare frame name is read too."""
        picture = picture.rpartition(":")[2]
        if picture == IMAGE_PICTURE:
            try:
                record = self.pipeline.upload(upload_id)
            except UploadNotFound:
                return None
            return self.store.browser_url(record.bucket, record.key)
        try:
            return self._artefact_url(upload_id, Keyframe.from_picture(picture).artefact)
        except MalformedName:
            return None

    def with_thumbnails(self, hits: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each hit with a ``thumbnail`` URL: its keyframe where it is one, else the upload's thumbnail."""
        found = []
        for hit in hits:
            upload_id = str(hit.get("upload_id") or "")
            frame = str(hit.get("frame") or "")
            url = self.picture(upload_id, frame) if frame not in ("", IMAGE_PICTURE) else None
            found.append({**hit, "thumbnail": url or (self.thumbnail(upload_id) if upload_id else None)})
        return found

    def with_picture(self, face: dict[str, Any]) -> dict[str, Any]:
        """A face with ``picture_url``, the picture its ``box`` (fractions of width and height) is in."""
        return {**face, "picture_url": self.picture(str(face.get("upload_id") or ""), str(face.get("picture") or ""))}
