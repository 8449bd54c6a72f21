"""Erasing a workspace on the real stack: afterwards a scan of every store (Redis keys and values, the
buckets, the vector index) finds nothing of it, another workspace keeps all it had, and the operator's
system log keeps that the erasure happened, without its data."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from redis import Redis

from embedded.stack import Stack
from scheduler.keys import SYSTEM_AUDIT, text, texts
from search.index import Index
from search.settings import IndexSettings
from tests.conftest import DATA, make_account, wait_for_upload
from tests.ui_support import post_upload


def _values(redis: Any, key: bytes) -> list[str]:
    """Every value a key holds, whatever its type, as text to look for a workspace's traces in."""
    kind = text(redis.type(key))
    found: list[Any] = []
    if kind == "string":
        found = [redis.get(key) or b""]
    elif kind == "hash":
        found = [part for pair in redis.hgetall(key).items() for part in pair]
    elif kind == "set":
        found = list(redis.smembers(key))
    elif kind == "zset":
        found = redis.zrange(key, 0, -1)
    elif kind == "list":
        found = redis.lrange(key, 0, -1)
    elif kind == "stream":
        found = [json.dumps({str(k): str(v) for k, v in fields.items()}) for _, fields in redis.xrange(key)]
    # Some values are binary (RQ keeps jobs pickled and compressed): read what text they hold.
    return [value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value) for value in found]


def traces(stack: Stack, redis: Redis, marks: list[str]) -> list[str]:
    """Where any of ``marks`` still lies: Redis key names and values, object keys, Chroma collections."""
    found = []
    for key in redis.scan_iter("*", count=5000):
        name = text(key)
        if name == SYSTEM_AUDIT:
            continue
        for value in [name, *_values(redis, key)]:
            hit = [m for m in marks if m in value]
            if hit:
                found.append(f"redis {name}: {hit}")
                break
    store = stack.store()
    for bucket in store.buckets:
        found += [f"s3 {bucket}/{key}" for key in store.keys(bucket) if any(m in key for m in marks)]
    index_env = {name.removeprefix("MEDIALENS_INDEX_").lower(): value
                 for name, value in stack.environment().items() if name.startswith("MEDIALENS_INDEX_")}
    index = Index(redis, IndexSettings.model_validate(index_env))
    with index.reading() as client:
        for collection in client.listing():
            meta = json.dumps(collection.metadata or {}) + collection.name
            found += [f"chroma {collection.name}" for m in marks if m in meta]
    return found


def _client(stack: Stack, key: str) -> httpx.Client:
    s = stack.settings
    return httpx.Client(base_url=s.url(s.ui_port) + "/api/v1", headers={"Authorization": f"Bearer {key}"},
                        timeout=120)


def test_after_erasing_a_workspace_no_store_holds_anything_of_it(running_stack: Stack) -> None:
    redis = running_stack.redis()
    doomed, kept = f"we-{uuid.uuid4().hex[:8]}", f"wk-{uuid.uuid4().hex[:8]}"
    owner, other = make_account(redis, doomed, "owner"), make_account(redis, kept, "owner")
    api, other_api = _client(running_stack, owner.key), _client(running_stack, other.key)
    uploads: list[dict[str, Any]] = []
    for name in ("obama.jpg", "biden.jpg"):
        uploads.append(wait_for_upload(api, post_upload(api, name, (DATA / "faces" / name).read_bytes(),
                                                        "image/jpeg")))
    survivor = wait_for_upload(other_api, post_upload(other_api, "obama2.jpg",
                                                      (DATA / "faces" / "obama2.jpg").read_bytes(), "image/jpeg"))
    assert all(u["state"] == "done" for u in [*uploads, survivor]), uploads
    people = api.get("/people").json()["people"]
    assert people and api.patch(f"/people/{people[0]['id']}", json={"name": "Someone Erased"}).status_code == 200
    assert api.post("/workspace/s3-credentials").status_code == 201
    assert api.post("/workspace/keys", json={"name": "doomed key"}).status_code == 201
    marks = [doomed, "Someone Erased", *(u["id"] for u in uploads)]
    assert traces(running_stack, redis, marks), "the scan finds a live workspace (it can fail)"

    assert api.request("DELETE", "/workspace", json={"confirm": "not-it"}).status_code == 400, "a typo erases nothing"
    reply = api.request("DELETE", "/workspace", json={"confirm": doomed})
    assert reply.status_code == 200, reply.text
    removed = reply.json()["removed"]
    assert removed["uploads"] == 2 and removed["objects"] >= 4 and removed["keys"] >= 2

    assert traces(running_stack, redis, marks) == []
    assert api.get("/uploads").status_code == 401, "its keys went with it"
    assert other_api.get(f"/uploads/{survivor['id']}").json()["state"] == "done"
    assert [p["faces"] for p in other_api.get("/people").json()["people"]] == [1], "the other keeps its person"
    entries: Any = redis.xrange(SYSTEM_AUDIT)
    erasure = [json.loads(fields["detail"]) | {"target": fields["target"]}
               for fields in (texts(raw) for _, raw in entries) if fields["action"] == "erasure"]
    assert any(entry["target"] == f"workspace {doomed}" and entry["uploads"] == 2 for entry in erasure), \
        "the system log keeps that it happened and how much went"


def test_a_members_uploads_can_be_erased_and_their_data_exported(running_stack: Stack) -> None:
    redis = running_stack.redis()
    workspace = f"wm-{uuid.uuid4().hex[:8]}"
    owner, member = make_account(redis, workspace, "owner"), make_account(redis, workspace, "editor")
    api, mine = _client(running_stack, owner.key), _client(running_stack, member.key)
    theirs = wait_for_upload(mine, post_upload(mine, "by-member.jpg", (DATA / "faces" / "obama.jpg").read_bytes(),
                                               "image/jpeg"))
    ours = wait_for_upload(api, post_upload(api, "by-owner.jpg", (DATA / "faces" / "biden.jpg").read_bytes(),
                                            "image/jpeg"))
    assert theirs["uploaded_by"] == member.user and ours["uploaded_by"] == owner.user
    reply = api.delete(f"/workspace/members/{member.user}/uploads")
    assert reply.status_code == 200 and reply.json()["removed"]["uploads"] == 1
    assert api.get(f"/uploads/{theirs['id']}").status_code == 404
    assert api.get(f"/uploads/{ours['id']}").json()["state"] == "done"
    assert traces(running_stack, redis, [theirs["id"]]) == []
