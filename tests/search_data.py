"""Search test data: uploads stored with their analyses, and real face embeddings of the test photos."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

from scheduler.analysis import FORMAT
from scheduler.uploads import State, Upload, Uploads
from search import jobs
from search.index import Index
from search.people import People
from storage.client import Store
from storage.layout import LEGACY_WORKSPACE, artefact_key, result_key, upload_key
from tests.conftest import DATA

FACES = DATA / "faces"
FACE_MODEL = "dlib-resnet-128"
# What the index server of the tests (search_support.index_server) admits.
INDEX_TOKEN = "index-token-for-tests"


@dataclass
class SearchEnv:
    """Uploads of one workspace on a test Redis, store and index."""

    records: Uploads
    store: Store
    index: Index
    workspace: str = LEGACY_WORKSPACE

    def within(self, workspace: str) -> SearchEnv:
        """The same Redis, store and index, for uploads of another workspace."""
        return replace(self, workspace=workspace)

    @property
    def people(self) -> People:
        return People(self.records.redis, self.index, self.workspace)

    def add(
        self, name: str, media_type: str, results: dict[str, Any], stored_format: int | None = FORMAT,
        created_at: float | None = None,
    ) -> str:
        """An upload whose pipeline finished with ``results``: record, objects, results JSON, index.

        ``stored_format=None`` stores the document as versions before format 2 did, without one."""
        upload = self.stored(name, media_type, results, stored_format, created_at)
        jobs.index_stored(upload, self.records, self.store, self.index)
        return upload

    def stored(
        self, name: str, media_type: str, results: dict[str, Any], stored_format: int | None = FORMAT,
        created_at: float | None = None,
    ) -> str:
        """An upload whose pipeline finished with ``results``, not indexed yet: record, objects, results JSON."""
        key = upload_key(self.workspace, f"{uuid.uuid4().hex[:12]}/{name}")
        upload = Upload(id=uuid.uuid4().hex[:20], bucket=self.store.settings.uploads_bucket, key=key,
                        etag=uuid.uuid4().hex, size=3, workspace=self.workspace, media_type=media_type,
                        state=State.DONE)
        if created_at is not None:
            upload.created_at = created_at
        self.records.create(upload)
        self.store.put_bytes(upload.bucket, key, b"raw")
        artefacts = self.store.settings.artefacts_bucket
        self.store.put_bytes(artefacts, artefact_key(self.workspace, upload.id, "thumbnail.jpg"), b"t")
        document: dict[str, Any] = {
            "upload": upload.to_dict(), "media_type": media_type, "results": results, "steps": {},
        }
        if stored_format is not None:
            document["format"] = stored_format
        self.store.put_json(self.store.settings.results_bucket, result_key(key), document)
        return upload.id

    def person_of(self, upload: str, picture: str = "image", number: int = 0) -> str:
        return str(self.people.face(f"{upload}:{picture}:{number}")["person"])


@cache
def face_of(filename: str) -> dict[str, Any]:
    """The one face in a test photo, shaped as the faces function reports it (dlib ResNet, 128-d)."""
    import dlib
    import face_recognition_models as shipped
    from PIL import Image

    pixels = np.asarray(Image.open(FACES / filename).convert("RGB"))
    found = dlib.get_frontal_face_detector()(pixels, 1)
    if len(found) != 1:
        raise ValueError(f"{filename}: expected one face, found {len(found)}")
    rect = found[0]
    aligner = dlib.shape_predictor(shipped.pose_predictor_five_point_model_location())
    encoder = dlib.face_recognition_model_v1(shipped.face_recognition_model_location())
    vector = encoder.compute_face_descriptor(pixels, aligner(pixels, rect))
    height, width = pixels.shape[:2]
    return {
        "box": {"x": rect.left() / width, "y": rect.top() / height,
                "width": rect.width() / width, "height": rect.height() / height},
        "quality": 0.9,
        "embedding": [float(v) for v in vector],
        "embedding_model": FACE_MODEL,
    }


def faces_result(*filenames: str) -> dict[str, Any]:
    return {"engine": {"engine": "dlib", "model": FACE_MODEL, "version": "test"},
            "faces": [face_of(name) for name in filenames]}
