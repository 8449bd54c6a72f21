"""Accounts: passwords kept only as argon2id hashes, keys that expire and are revoked at once,
workspaces and their members."""

from __future__ import annotations

import json
import time

import pytest
from redis import Redis

from accounts.apikeys import ApiKeys
from accounts.roles import Role
from accounts.users import UserError, Users
from accounts.workspaces import Workspaces


def test_a_password_is_kept_as_an_argon2id_hash_and_checked(redis_db: Redis) -> None:
    users = Users(redis_db)
    users.create("alice", "correct horse battery")
    stored = json.loads(redis_db.hget("ml:users", "alice"))  # type: ignore[arg-type]
    assert stored["hash"].startswith("$argon2id$") and "correct horse" not in json.dumps(stored)
    assert users.verify("alice", "correct horse battery") is not None
    assert users.verify("alice", "wrong horse battery") is None
    assert users.verify("bob", "correct horse battery") is None
    users.set_password("alice", "a new long password")
    assert users.verify("alice", "correct horse battery") is None
    assert users.verify("alice", "a new long password") is not None


@pytest.mark.parametrize(("name", "password", "problem"), [
    ("alice", "short", "at least 10"), ("a", "long enough password", "2 to 64"),
    ("al ice", "long enough password", "2 to 64"), ("-alice", "long enough password", "2 to 64"),
])
def test_bad_names_and_passwords_are_refused_with_a_reason(redis_db: Redis, name: str, password: str,
                                                           problem: str) -> None:
    with pytest.raises(UserError, match=problem):
        Users(redis_db).create(name, password)
    assert not redis_db.hlen("ml:users")


def test_a_name_is_taken_once(redis_db: Redis) -> None:
    Users(redis_db).create("alice", "correct horse battery")
    with pytest.raises(UserError, match="exists"):
        Users(redis_db).create("alice", "another long password")
    assert Users(redis_db).verify("alice", "correct horse battery") is not None


def test_keys_belong_to_one_workspace_expire_and_stop_at_once_when_revoked(redis_db: Redis) -> None:
    keys = ApiKeys(redis_db)
    found, secret = keys.create("acme", Role.EDITOR, "scanner", "alice")
    short, short_secret = keys.create("acme", Role.VIEWER, "brief", "alice", expires_at=time.time() + 1.0)
    other, other_secret = keys.create("globex", Role.OWNER, "theirs", "bob")
    assert keys.authenticate(secret) == found and found.workspace == "acme" and found.role == "editor"
    assert secret not in json.dumps([k.to_dict() for k in keys.list("acme")]), "a listing never shows a secret"
    assert [k.name for k in keys.list("acme")] == ["scanner", "brief"]
    assert [k.name for k in keys.list("globex")] == ["theirs"]
    assert keys.authenticate(short_secret) == short
    time.sleep(1.1)
    assert keys.authenticate(short_secret) is None, "expired"
    assert not keys.revoke("globex", found.id), "a workspace cannot revoke another's key"
    assert keys.revoke("acme", found.id) and keys.authenticate(secret) is None
    assert keys.authenticate(other_secret) == other
    assert keys.authenticate("ml_guess") is None and keys.authenticate("") is None


def test_a_key_without_a_workspace_is_an_operators_only(redis_db: Redis) -> None:
    keys = ApiKeys(redis_db)
    with pytest.raises(ValueError):
        keys.create("", None, "nobody's", "alice")
    with pytest.raises(ValueError):
        keys.create("acme", Role.OWNER, "past", "alice", expires_at=time.time() - 1)
    made, secret = keys.create("", None, "ops", "alice", operator=True)
    assert keys.authenticate(secret) == made and made.operator and keys.list("") == [made]


def test_members_and_roles_are_per_workspace(redis_db: Redis) -> None:
    spaces = Workspaces(redis_db)
    acme = spaces.create("Acme Photos", owner="alice")
    assert acme.id.startswith("acme-photos-") and spaces.exists(acme.id)
    globex = spaces.create("Globex", owner="bob")
    spaces.set_role(acme.id, "bob", Role.VIEWER)
    assert spaces.members(acme.id) == {"alice": Role.OWNER, "bob": Role.VIEWER}
    assert spaces.of_user("bob") == {acme.id: Role.VIEWER, globex.id: Role.OWNER}
    assert spaces.role_of(globex.id, "alice") is None
    assert spaces.remove_member(acme.id, "bob") and spaces.of_user("bob") == {globex.id: Role.OWNER}
    spaces.forget(acme.id)
    assert not spaces.exists(acme.id) and spaces.of_user("alice") == {}
    with pytest.raises(ValueError):
        spaces.create("x", workspace="Not_Valid")
