"""People: faces grouped into persons as uploads arrive, with the user's corrections, all kept in Redis,
each workspace's apart from every other's.

A new face joins the person of its nearest known face when that face is nearer than the
embedding model's same-person distance, else it starts a new person. The user's decisions bind
later grouping: a merged person's id maps to the person it went into, a face moved out of a
person never goes back to it (a cannot-link), and two faces of one picture never share a person.
Faces already placed keep their person when an upload is indexed again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis

from scheduler import keys

from .index import FACES, Index
from .settings import IndexSettings, settings
from .wording import N_, say


class PersonNotFound(KeyError):
    pass


class FaceNotFound(KeyError):
    pass


class PersonConflict(ValueError):
    """The request would break a rule (one picture, one face per person; one embedding model)."""


class NothingToUndo(LookupError):
    pass


# How many decisions about people can be taken back, newest first.
UNDO_DEPTH = 20


def label(person: str, name: str | None) -> str:
    """What a person is called on screen: their name, or "Person 3" for unnamed ``p3`` (in the reader's language)."""
    if name:
        return name
    number = person[1:] if person.startswith("p") and person[1:].isdigit() else person
    return say("Person {number}", number=number)


def described(entry: dict[str, Any]) -> str:
    """A journalled decision in the reader's words ("hiding Person 3")."""
    values = entry.get("values")
    if values is None:  # journalled before decisions were put into words on reading: English as it was written
        return str(entry["what"])
    return say(str(entry["what"]), **values)


@dataclass(frozen=True)
class Face:
    """A face as the index knows it: ``picture`` names the image or keyframe it was found in."""

    id: str
    upload_id: str
    picture: str
    model: str
    embedding: Sequence[float]
    time: float | None = None
    box: dict[str, Any] | None = None

    def to_redis(self, person: str) -> dict[Any, Any]:
        return {
            "id": self.id,
            "person": person,
            "upload_id": self.upload_id,
            "picture": self.picture,
            "model": self.model,
            "time": json.dumps(self.time),
            "box": json.dumps(self.box),
        }


@dataclass(frozen=True)
class FaceMatch:
    face: str
    person: str
    distance: float


def face_id(upload: str, picture: str, number: int) -> str:
    """The id of the `number`-th face the faces function found in one picture of an upload."""
    return f"{upload}:{picture}:{number}"


class People:
    """The people of one workspace: its faces are matched against its own faces only, and a person or
    face id of another workspace is not found here, as if it did not exist."""

    def __init__(self, redis: Redis, index: Index, workspace: str, config: IndexSettings | None = None) -> None:
        self.redis = redis
        self.index = index
        self.workspace = workspace
        self.config = config or settings()

    def _lock(self) -> Any:
        return self.redis.lock(keys.people_lock(self.workspace), timeout=60, blocking_timeout=60)

    # -- reading --------------------------------------------------------------------------------
    def resolve(self, person: str) -> str:
        """The id a person has now: merges map old ids onto the person they went into."""
        for _ in range(32):
            target = self.redis.hget(keys.people_aliases(self.workspace), person)
            if target is None:
                return person
            person = keys.text(target)
        return person

    def persons_of(self, faces: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The person (id and name) each face belongs to now; faces not placed are left out."""
        found = {}
        for face in faces:
            person = self.redis.hget(keys.face(self.workspace, face), "person")
            if person is None:
                continue
            current = self.resolve(keys.text(person))
            name = self.redis.hget(keys.person(self.workspace, current), "name")
            found[face] = {"id": current, "name": keys.text(name) if name else None}
        return found

    def exists(self, person: str) -> bool:
        return bool(self.redis.exists(keys.person(self.workspace, person)))

    def _require(self, person: str) -> str:
        resolved = self.resolve(person)
        if not self.exists(resolved):
            raise PersonNotFound(person)
        return resolved

    def face(self, face: str) -> dict[str, Any]:
        raw = keys.texts(self.redis.hgetall(keys.face(self.workspace, face)))
        if not raw:
            raise FaceNotFound(face)
        return {**raw, "time": json.loads(raw.get("time", "null")), "box": json.loads(raw.get("box", "null"))}

    def members(self, person: str) -> list[str]:
        return sorted(keys.text(m) for m in self.redis.smembers(keys.person_faces(self.workspace, person)))

    def summary(self, person: str) -> dict[str, Any]:
        person = self._require(person)
        record = keys.texts(self.redis.hgetall(keys.person(self.workspace, person)))
        faces = [self.face(face) for face in self.members(person) if self.redis.exists(keys.face(self.workspace, face))]
        return {
            "id": person,
            "name": record.get("name") or None,
            "label": label(person, record.get("name")),
            "hidden": record.get("hidden") == "1",
            "model": record.get("model"),
            "faces": len(faces),
            "uploads": len({face["upload_id"] for face in faces}),
            "cover": faces[0] if faces else None,
        }

    def all(self, hidden: bool = False) -> list[dict[str, Any]]:
        """Everyone, oldest first; people hidden by a user only when ``hidden``."""
        found = [self.summary(keys.text(p)) for p in self.redis.zrange(keys.people(self.workspace), 0, -1)]
        return [person for person in found if hidden or not person["hidden"]]

    def _label_of(self, person: str) -> str:
        name = self.redis.hget(keys.person(self.workspace, person), "name")
        return label(person, keys.text(name) if name else None)

    def uploads_of(self, person: str) -> list[dict[str, Any]]:
        """Every upload where the person appears, with the time of each appearance in video."""
        person = self._require(person)
        found: dict[str, dict[str, Any]] = {}
        for face_id in self.members(person):
            try:
                face = self.face(face_id)
            except FaceNotFound:
                continue
            entry = found.setdefault(face["upload_id"], {"upload_id": face["upload_id"], "faces": []})
            entry["faces"].append({"face_id": face_id, "picture": face["picture"], "time": face["time"],
                                   "box": face["box"]})
        for entry in found.values():
            entry["faces"].sort(key=lambda f: (f["time"] is not None, f["time"] or 0.0))
            entry["times"] = [f["time"] for f in entry["faces"] if f["time"] is not None]
        return sorted(found.values(), key=lambda e: e["upload_id"])

    def faces_of_upload(self, upload: str) -> list[str]:
        return sorted(keys.text(m) for m in self.redis.smembers(keys.upload_faces(self.workspace, upload)))

    def _pictures(self, person: str, leaving_out: str = "") -> set[str]:
        pictures = set()
        for face in self.members(person):
            if face != leaving_out:
                raw = self.redis.hget(keys.face(self.workspace, face), "picture")
                if raw is not None:
                    pictures.add(keys.text(raw))
        return pictures

    # -- grouping -------------------------------------------------------------------------------
    def place(self, faces: Iterable[Face], still_wanted: Callable[[], bool] = lambda: True) -> dict[str, str]:
        """Gives every face a person, one picture at a time; the face vectors must be indexed already."""
        by_picture: dict[str, list[Face]] = {}
        for face in faces:
            by_picture.setdefault(face.picture, []).append(face)
        placed: dict[str, str] = {}
        with self._lock():
            if not still_wanted():
                return {}
            for group in by_picture.values():
                placed.update(self._place_picture(group))
        return placed

    def _place_picture(self, faces: list[Face]) -> dict[str, str]:
        placed: dict[str, str] = {}
        waiting = []
        for face in faces:
            known = self.redis.hget(keys.face(self.workspace, face.id), "person")
            person = self.resolve(keys.text(known)) if known else None
            if person and self.exists(person) and person not in placed.values():
                self._assign(face, person)
                placed[face.id] = person
            else:
                waiting.append(face)
        matches = sorted(
            (match for face in waiting for match in self._candidates(face)), key=lambda m: m.distance
        )
        for match in matches:
            if match.face in placed or match.person in placed.values():
                continue
            face = next(f for f in waiting if f.id == match.face)
            self._assign(face, match.person)
            placed[face.id] = match.person
        for face in waiting:
            if face.id not in placed:
                person = self._new_person(face.model)
                self._assign(face, person)
                placed[face.id] = person
        return placed

    def _candidates(self, face: Face) -> list[FaceMatch]:
        threshold = self.config.same_person_distance.get(face.model)
        if threshold is None:
            return []
        hits = self.index.nearest(
            self.workspace, FACES, face.model, face.embedding, self.config.face_neighbours,
            where={"picture": {"$ne": face.picture}},
        )
        refused = {self.resolve(keys.text(p)) for p in self.redis.smembers(keys.face_cannot(self.workspace, face.id))}
        best: dict[str, float] = {}
        for hit in hits:
            if hit.distance >= threshold:
                continue
            raw = self.redis.hget(keys.face(self.workspace, hit.id), "person")
            if raw is None:
                continue
            person = self.resolve(keys.text(raw))
            if person in refused or not self.exists(person):
                continue
            best[person] = min(best.get(person, hit.distance), hit.distance)
        return [FaceMatch(face.id, person, distance) for person, distance in best.items()]

    def _new_person(self, model: str) -> str:
        person = f"p{self.redis.incr(keys.people_counter(self.workspace))}"
        created = time.time()
        with self.redis.pipeline() as pipe:
            pipe.hset(keys.person(self.workspace, person), mapping={"id": person, "name": "", "model": model,
                                                    "created_at": str(created)})
            pipe.zadd(keys.people(self.workspace), {person: created})
            pipe.execute()
        return person

    def _assign(self, face: Face, person: str) -> None:
        previous = self.redis.hget(keys.face(self.workspace, face.id), "person")
        with self.redis.pipeline() as pipe:
            if previous is not None and keys.text(previous) != person:
                pipe.srem(keys.person_faces(self.workspace, keys.text(previous)), face.id)
            pipe.hset(keys.face(self.workspace, face.id), mapping=face.to_redis(person))
            pipe.sadd(keys.person_faces(self.workspace, person), face.id)
            pipe.sadd(keys.upload_faces(self.workspace, face.upload_id), face.id)
            pipe.execute()
        if previous is not None:
            self._drop_if_empty(keys.text(previous))

    def _move(self, face: str, person: str) -> None:
        previous = self.redis.hget(keys.face(self.workspace, face), "person")
        with self.redis.pipeline() as pipe:
            if previous is not None:
                pipe.srem(keys.person_faces(self.workspace, keys.text(previous)), face)
            pipe.hset(keys.face(self.workspace, face), "person", person)
            pipe.sadd(keys.person_faces(self.workspace, person), face)
            pipe.execute()
        if previous is not None:
            self._drop_if_empty(keys.text(previous))

    def _drop_if_empty(self, person: str) -> None:
        if self.redis.scard(keys.person_faces(self.workspace, person)) == 0:
            self._delete_person(person)

    def _delete_person(self, person: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.person(self.workspace, person), keys.person_faces(self.workspace, person))
            pipe.zrem(keys.people(self.workspace), person)
            pipe.hdel(keys.people_aliases(self.workspace), person)
            pipe.execute()
        for alias, target in self.redis.hgetall(keys.people_aliases(self.workspace)).items():
            if keys.text(target) == person:
                self.redis.hdel(keys.people_aliases(self.workspace), alias)

    # -- the user's decisions -------------------------------------------------------------------
    def _journal(self, what: str, values: dict[str, str], touched: Iterable[str], people: Sequence[str] = ()) -> None:
        """Keeps the keys a decision is about to change as they are now, so that `undo` can put them back;
        ``people`` are the persons it may create or remove (their place in the list is mended on undo).
        ``what`` (English, with ``{name}`` placeholders filled from ``values``) is put into words when it is
        read, so each reader sees it in their language."""
        kept: dict[str, str | None] = {}
        for key in dict.fromkeys(touched):
            dumped = self.redis.dump(key)
            kept[key] = None if dumped is None else bytes(dumped).hex()
        entry = {"what": what, "values": values, "keys": kept, "people": list(people)}
        with self.redis.pipeline() as pipe:
            pipe.lpush(keys.people_undo(self.workspace), json.dumps(entry))
            pipe.ltrim(keys.people_undo(self.workspace), 0, UNDO_DEPTH - 1)
            pipe.execute()

    def _person_keys(self, *people: str) -> list[str]:
        # The list of everyone is not kept whole: indexing may add people after the decision, and an undo
        # must not drop them. Only the entries of the people named are mended (see `undo`).
        found = [keys.people_aliases(self.workspace)]
        for person in people:
            found += [keys.person(self.workspace, person), keys.person_faces(self.workspace, person)]
        return found

    def last_decision(self) -> str | None:
        """What `undo` would take back, in words; None when nothing is left to undo."""
        raw = self.redis.lindex(keys.people_undo(self.workspace), 0)
        return None if raw is None else described(json.loads(raw))

    def undo(self) -> str:
        """Takes back the last decision (rename, hide, merge, move): the keys it changed are put back as
        they were before it. What indexing changed in those keys since is taken back with it."""
        with self._lock():
            raw = self.redis.lpop(keys.people_undo(self.workspace))
            if raw is None:
                raise NothingToUndo()
            entry = json.loads(raw)  # type: ignore[arg-type]
            with self.redis.pipeline() as pipe:
                for key, dumped in entry["keys"].items():
                    if dumped is None:
                        pipe.delete(key)
                    else:
                        pipe.restore(key, 0, bytes.fromhex(dumped), replace=True)
                pipe.execute()
            for person in entry.get("people", []):
                created = self.redis.hget(keys.person(self.workspace, person), "created_at")
                if created is None:
                    self.redis.zrem(keys.people(self.workspace), person)
                else:
                    self.redis.zadd(keys.people(self.workspace), {person: float(created)})
            return described(entry)

    def rename(self, person: str, name: str) -> dict[str, Any]:
        with self._lock():
            person = self._require(person)
            before = self._label_of(person)
            if name.strip():
                self._journal(N_("naming {person} {name}"), {"person": before, "name": name.strip()},
                              [keys.person(self.workspace, person)])
            else:
                self._journal(N_("clearing the name of {person}"), {"person": before},
                              [keys.person(self.workspace, person)])
            self.redis.hset(keys.person(self.workspace, person), "name", name.strip())
            return self.summary(person)

    def hide(self, person: str, hidden: bool = True) -> dict[str, Any]:
        """Leaves a person out of the people list (someone in the background), or shows them again."""
        with self._lock():
            person = self._require(person)
            what = N_("hiding {person}") if hidden else N_("showing {person} again")
            self._journal(what, {"person": self._label_of(person)}, [keys.person(self.workspace, person)])
            self.redis.hset(keys.person(self.workspace, person), "hidden", "1" if hidden else "")
            return self.summary(person)

    def merge(self, into: str, others: Sequence[str]) -> dict[str, Any]:
        """Moves every face of ``others`` into ``into``; their ids keep pointing to it."""
        with self._lock():
            target = self._require(into)
            sources = [p for p in dict.fromkeys(self._require(o) for o in others) if p != target]
            model = self.redis.hget(keys.person(self.workspace, target), "model")
            pictures = self._pictures(target)
            for source in sources:
                if self.redis.hget(keys.person(self.workspace, source), "model") != model:
                    raise PersonConflict(f"{self._label_of(source)} and {self._label_of(target)} were found by "
                                         "different face models and cannot be compared")
                shared = pictures & self._pictures(source)
                if shared:
                    raise PersonConflict(
                        f"{self._label_of(source)} and {self._label_of(target)} both appear in one picture: two "
                        "faces in one picture are never the same person; move the wrong face out first"
                    )
                pictures |= self._pictures(source)
            moved = [face for source in sources for face in self.members(source)]
            self._journal(N_("merging {people} into {person}"),
                          {"people": ", ".join(self._label_of(p) for p in sources), "person": self._label_of(target)},
                          [*self._person_keys(target, *sources), *(keys.face(self.workspace, f) for f in moved)],
                          people=[target, *sources])
            name = self.redis.hget(keys.person(self.workspace, target), "name") or b""
            for source in sources:
                if not name:
                    name = self.redis.hget(keys.person(self.workspace, source), "name") or b""
                for face in self.members(source):
                    self._move(face, target)
                self._delete_person(source)
                with self.redis.pipeline() as pipe:
                    pipe.hset(keys.people_aliases(self.workspace), source, target)
                    for alias, pointed in self.redis.hgetall(keys.people_aliases(self.workspace)).items():
                        if keys.text(pointed) == source:
                            pipe.hset(keys.people_aliases(self.workspace), alias, target)
                    pipe.execute()
            self.redis.hset(keys.person(self.workspace, target), "name", name)
            return self.summary(target)

    def split(self, face_id: str, into: str | None = None) -> dict[str, Any]:
        """Moves a face out of its person, alone or into ``into``; it never rejoins the person it left."""
        with self._lock():
            face = self.face(face_id)
            current = self.resolve(face["person"])
            if into is not None:
                target = self._require(into)
                if target == current:
                    raise PersonConflict(f"this face already belongs to {self._label_of(target)}")
                if self.redis.hget(keys.person(self.workspace, target), "model") != face["model"].encode():
                    raise PersonConflict(f"{self._label_of(target)} was found by another face model than this face")
                if face["picture"] in self._pictures(target):
                    raise PersonConflict(f"{self._label_of(target)} already has another face in this picture")
                what = N_("moving a face from {person} to {other}")
            else:
                # The new person's id is the counter's next value: no one else counts while the lock is held.
                target = f"p{int(self.redis.get(keys.people_counter(self.workspace)) or 0) + 1}"
                what = N_("moving a face out of {person}")
            values = {"person": self._label_of(current), "other": self._label_of(target)}
            self._journal(what, values, [*self._person_keys(current, target), keys.face(self.workspace, face_id),
                                 keys.face_cannot(self.workspace, face_id)], people=[current, target])
            if into is None:
                target = self._new_person(face["model"])
            self.redis.sadd(keys.face_cannot(self.workspace, face_id), current)
            self._move(face_id, target)
            return {"face": self.face(face_id), "person": self.summary(target), "left": current}

    # -- deleting -------------------------------------------------------------------------------
    def forget_upload(self, upload: str) -> int:
        """Removes the upload's faces; a person left with no face is removed too."""
        with self._lock():
            faces = self.faces_of_upload(upload)
            for face in faces:
                self._forget_face(upload, face)
            self.redis.delete(keys.upload_faces(self.workspace, upload))
            return len(faces)

    def retain(self, upload: str, keep: set[str]) -> None:
        """Forgets the upload's faces that a new analysis no longer finds."""
        with self._lock():
            for face in set(self.faces_of_upload(upload)) - keep:
                self._forget_face(upload, face)

    def erase(self) -> int:
        """Removes every person, face, alias and correction of the workspace (its erasure); how many
        keys went."""
        parts = tuple(f"{keys.workspace(self.workspace)}:{part}" for part in keys.PEOPLE_PARTS)
        removed = 0
        with self._lock():
            batch: list[str] = []
            for key in self.redis.scan_iter(match=f"{keys.workspace(self.workspace)}:*", count=1000):
                name = keys.text(key)
                # The lock is released (and so deleted) when the erasure ends.
                if name.startswith(parts) and name != keys.people_lock(self.workspace):
                    batch.append(name)
            for begin in range(0, len(batch), 1000):
                removed += int(self.redis.unlink(*batch[begin : begin + 1000]))
        return removed

    def _forget_face(self, upload: str, face: str) -> None:
        person = self.redis.hget(keys.face(self.workspace, face), "person")
        self.redis.delete(keys.face(self.workspace, face), keys.face_cannot(self.workspace, face))
        self.redis.srem(keys.upload_faces(self.workspace, upload), face)
        if person is not None:
            self.redis.srem(keys.person_faces(self.workspace, keys.text(person)), face)
            self._drop_if_empty(keys.text(person))
