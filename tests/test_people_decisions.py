"""People as a person works with them: readable names, hiding, moving a face to someone known, undo."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import make_account
from tests.search_data import SearchEnv, faces_result
from tests.ui_support import sign_in

pytest_plugins = ["tests.search_support"]


def _photos(env: SearchEnv) -> dict[str, str]:
    return {name: env.add(f"{name}.jpg", "image", {"faces": faces_result(f"{name}.jpg")})
            for name in ("obama", "obama2", "biden")}


def _people(client: FlaskClient, **query: Any) -> dict[str, Any]:
    reply = client.get("/api/v1/people", query_string=query)
    assert reply.status_code == 200, reply.get_json()
    found: dict[str, Any] = reply.get_json()
    return found


def _labels(client: FlaskClient, **query: Any) -> dict[str, str]:
    return {person["id"]: person["label"] for person in _people(client, **query)["people"]}


def test_unnamed_people_read_as_person_n_and_errors_name_no_internal_id(
    search_env: SearchEnv, api_client: FlaskClient
) -> None:
    uploads = _photos(search_env)
    obama, biden = search_env.person_of(uploads["obama"]), search_env.person_of(uploads["biden"])
    labels = _labels(api_client)
    assert labels[obama] == f"Person {obama[1:]}" and labels[biden] == f"Person {biden[1:]}"
    api_client.patch(f"/api/v1/people/{obama}", json={"name": "Barack Obama"})
    assert _labels(api_client)[obama] == "Barack Obama"
    # The face of obama2 said to be Biden's, then a merge of the two men: each refusal names people by name.
    face = f"{uploads['obama2']}:image:0"
    gone = api_client.get("/api/v1/people/p999").get_json()["error"]
    refused = api_client.post(f"/api/v1/faces/{face}/split", json={"person": obama}).get_json()["error"]
    assert "already belongs to Barack Obama" in refused
    for message in (gone, refused):
        assert not re.search(r"\bp\d+\b", message) and uploads["obama2"] not in message, message


def test_a_face_moves_to_a_known_person_and_undo_takes_it_back(
    search_env: SearchEnv, api_client: FlaskClient
) -> None:
    uploads = _photos(search_env)
    obama, biden = search_env.person_of(uploads["obama"]), search_env.person_of(uploads["biden"])
    face = f"{uploads['obama2']}:image:0"
    moved = api_client.post(f"/api/v1/faces/{face}/split", json={"person": biden})
    assert moved.status_code == 200, moved.get_json()
    assert search_env.person_of(uploads["obama2"]) == biden
    people = _people(api_client)
    assert people["undo"] == f"moving a face from Person {obama[1:]} to Person {biden[1:]}"

    undone = api_client.post("/api/v1/people/undo")
    assert undone.status_code == 200 and undone.get_json()["undone"] == people["undo"]
    assert search_env.person_of(uploads["obama2"]) == obama
    assert {face["upload_id"] for face in api_client.get(f"/api/v1/people/{obama}").get_json()["members"]} == {
        uploads["obama"], uploads["obama2"]}
    assert api_client.post("/api/v1/people/undo").status_code == 409  # nothing left


def test_undo_takes_back_names_merges_and_hides_newest_first(
    search_env: SearchEnv, api_client: FlaskClient
) -> None:
    uploads = _photos(search_env)
    obama, biden = search_env.person_of(uploads["obama"]), search_env.person_of(uploads["biden"])
    api_client.patch(f"/api/v1/people/{biden}", json={"name": "Joe Biden"})
    merged = api_client.post("/api/v1/people/merge", json={"into": obama, "people": [obama, biden]})
    assert merged.status_code == 200, merged.get_json()
    assert set(_labels(api_client)) == {obama}
    hidden = api_client.patch(f"/api/v1/people/{obama}", json={"hidden": True})
    assert hidden.status_code == 200 and hidden.get_json()["hidden"] is True
    assert _labels(api_client) == {} and set(_labels(api_client, hidden=1)) == {obama}

    assert api_client.post("/api/v1/people/undo").get_json()["undone"].startswith("hiding")
    assert set(_labels(api_client)) == {obama}
    assert api_client.post("/api/v1/people/undo").get_json()["undone"] == f"merging Joe Biden into Person {obama[1:]}"
    assert _labels(api_client) == {obama: f"Person {obama[1:]}", biden: "Joe Biden"}
    assert search_env.person_of(uploads["biden"]) == biden
    assert api_client.get(f"/api/v1/people/{biden}").get_json()["id"] == biden  # no longer an alias
    assert api_client.post("/api/v1/people/undo").get_json()["undone"] == f"naming Person {biden[1:]} Joe Biden"
    assert _labels(api_client)[biden] == f"Person {biden[1:]}"


def test_a_person_has_a_page_and_faces_are_named_from_the_picture(
    search_env: SearchEnv, api_client: FlaskClient
) -> None:
    uploads = _photos(search_env)
    obama = search_env.person_of(uploads["obama"])
    # The result view reads the upload's record's results, as the pipeline leaves them.
    search_env.records.put_result(uploads["obama2"], "faces", faces_result("obama2.jpg"))
    browser = api_client.application.test_client()
    sign_in(browser, make_account(search_env.records.redis, search_env.workspace, "viewer"))
    page = browser.get(f"/people/{obama}")
    assert page.status_code == 200 and f'data-id="{obama}"' in page.get_data(as_text=True)
    assert browser.get("/people/p999").status_code == 404
    result = browser.get(f"/uploads/{uploads['obama2']}").get_data(as_text=True)
    here = result[result.index('id="faces-here"'):]
    assert f'data-face="{uploads["obama2"]}:image:0"' in here and f'data-person="{obama}"' in here
    assert f"Person {obama[1:]}" in here


def test_undo_keeps_the_people_indexing_found_since(search_env: SearchEnv, api_client: FlaskClient) -> None:
    obama = search_env.add("obama.jpg", "image", {"faces": faces_result("obama.jpg")})
    again = search_env.add("obama2.jpg", "image", {"faces": faces_result("obama2.jpg")})
    person = search_env.person_of(obama)
    alone = api_client.post(f"/api/v1/faces/{again}:image:0/split", json={}).get_json()["person"]["id"]
    biden = search_env.person_of(search_env.add("biden.jpg", "image", {"faces": faces_result("biden.jpg")}))
    assert set(_labels(api_client)) == {person, alone, biden}
    assert api_client.post("/api/v1/people/undo").status_code == 200
    assert set(_labels(api_client)) == {person, biden}
    assert search_env.person_of(again) == person


def test_the_words_about_people_are_in_the_readers_language(search_env: SearchEnv, api_client: FlaskClient) -> None:
    """The API answers a German page in German: the decision an undo takes back, and a person who is gone."""
    uploads = _photos(search_env)
    biden = search_env.person_of(uploads["biden"])
    german = {"Accept-Language": "de-DE,de;q=0.9"}
    assert api_client.patch(f"/api/v1/people/{biden}", json={"hidden": True}, headers=german).status_code == 200
    # The decision is kept as words to fill in, so a reader of either language sees it in theirs.
    assert _people(api_client)["undo"] == f"hiding Person {biden[1:]}"
    assert api_client.get("/api/v1/people", headers=german).get_json()["undo"] == f"Person {biden[1:]} ausblenden"
    gone = api_client.get("/api/v1/people/p999", headers=german).get_json()["error"]
    assert gone.startswith("diese Person ist nicht mehr in diesem Arbeitsbereich"), gone
    undone = api_client.post("/api/v1/people/undo", headers=german).get_json()["undone"]
    assert undone == f"Person {biden[1:]} ausblenden"
