"""When two face embeddings are one person: the distance threshold of each embedding model.

The faces function reports it with its result and search places faces into people with it, so it
is written once, here; this module imports nothing, so the app image carries it alone.
"""

from __future__ import annotations

# Euclidean distance below which two faces of the same model are the same person. dlib's is its
# published threshold (measured here: same person 0.33-0.45, different 0.66-0.89); facenet's 1.1
# is the one usually quoted for VGGFace2, not measured here.
SAME_PERSON_DISTANCE: dict[str, float] = {"dlib-resnet-128": 0.6, "facenet-vggface2-512": 1.1}
