"""People: faces grouped into persons across uploads, and the user's naming, merging and splitting."""

from __future__ import annotations

from flask.testing import FlaskClient

from functions.faces.same_person import SAME_PERSON_DISTANCE
from search import jobs
from search.settings import IndexSettings
from tests.search_data import SearchEnv, faces_result

pytest_plugins = ["tests.search_support"]


def _photos(env: SearchEnv) -> dict[str, str]:
    return {name: env.add(f"{name}.jpg", "image", {"faces": faces_result(f"{name}.jpg")})
            for name in ("obama", "obama2", "obama3", "biden")}


def test_the_three_obama_photos_are_one_person_and_biden_another(search_env: SearchEnv) -> None:
    uploads = _photos(search_env)
    persons = {name: search_env.person_of(upload) for name, upload in uploads.items()}
    assert persons["obama"] == persons["obama2"] == persons["obama3"]
    assert persons["biden"] != persons["obama"]
    assert len(search_env.people.all()) == 2
    found = search_env.people.uploads_of(persons["obama"])
    assert {entry["upload_id"] for entry in found} == {uploads[n] for n in ("obama", "obama2", "obama3")}


def test_two_faces_in_one_picture_are_never_one_person(search_env: SearchEnv) -> None:
    first = search_env.add("obama.jpg", "image", {"faces": faces_result("obama.jpg")})
    # The same man twice in one picture (a collage): his nearest person fits both, only one may join.
    pair = search_env.add("collage.jpg", "image", {"faces": faces_result("obama2.jpg", "obama3.jpg")})
    persons = {search_env.person_of(pair, number=0), search_env.person_of(pair, number=1)}
    assert len(persons) == 2
    assert search_env.person_of(first) in persons


def test_names_merges_and_splits_persist_through_a_rebuild(
    search_env: SearchEnv, api_client: FlaskClient
) -> None:
    uploads = _photos(search_env)
    obama, biden = search_env.person_of(uploads["obama"]), search_env.person_of(uploads["biden"])
    assert api_client.patch(f"/api/v1/people/{obama}", json={"name": "Barack Obama"}).status_code == 200

    moved = f"{uploads['obama3']}:image:0"
    reply = api_client.post(f"/api/v1/faces/{moved}/split", json={})
    assert reply.status_code == 200, reply.get_json()
    alone = reply.get_json()["person"]["id"]
    assert alone not in (obama, biden)
    # A later photo of the man in the moved face follows that face, not the person it left.
    again = search_env.add("obama3-copy.jpg", "image", {"faces": faces_result("obama3.jpg")})
    assert search_env.person_of(again) == alone

    jobs.rebuild_all(search_env.records, search_env.store, search_env.index, search_env.workspace)
    assert search_env.person_of(uploads["obama3"]) == alone
    listed = {p["id"]: p for p in api_client.get("/api/v1/people").get_json()["people"]}
    assert listed[obama]["name"] == "Barack Obama" and listed[obama]["faces"] == 2

    reply = api_client.post("/api/v1/people/merge", json={"into": obama, "people": [alone]})
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["faces"] == 4
    jobs.rebuild_all(search_env.records, search_env.store, search_env.index, search_env.workspace)
    for name in ("obama", "obama2", "obama3"):
        assert search_env.person_of(uploads[name]) == obama
    assert search_env.person_of(uploads["biden"]) == biden
    merged = api_client.get(f"/api/v1/people/{alone}").get_json()
    assert merged["id"] == obama and merged["name"] == "Barack Obama"
    shown = api_client.get(f"/api/v1/people/{alone}/uploads").get_json()
    assert shown["person"] == obama
    everywhere = {uploads["obama"], uploads["obama2"], uploads["obama3"], again}
    assert {u["upload_id"] for u in shown["uploads"]} == everywhere


def test_a_merge_of_two_faces_of_one_picture_is_refused(
    search_env: SearchEnv, api_client: FlaskClient
) -> None:
    pair = search_env.add("collage.jpg", "image", {"faces": faces_result("obama.jpg", "biden.jpg")})
    first, second = search_env.person_of(pair, number=0), search_env.person_of(pair, number=1)
    reply = api_client.post("/api/v1/people/merge", json={"people": [first, second]})
    assert reply.status_code == 409
    assert "same person" in reply.get_json()["error"]
    assert api_client.post("/api/v1/people/merge", json={"people": [first, "p999"]}).status_code == 404


def test_a_video_lists_the_times_a_person_appears(search_env: SearchEnv, api_client: FlaskClient) -> None:
    photo = search_env.add("obama.jpg", "image", {"faces": faces_result("obama.jpg")})
    video = search_env.add("speech.mp4", "video", {
        "extract": {"keyframes": [{"index": 0, "time": 0.0}, {"index": 1, "time": 12.5}], "duration": 30.0},
        "keyframes": {"0": {"faces": faces_result("biden.jpg")}, "1": {"faces": faces_result("obama2.jpg")}},
    })
    person = search_env.person_of(photo)
    shown = api_client.get(f"/api/v1/people/{person}/uploads").get_json()["uploads"]
    by_upload = {entry["upload_id"]: entry for entry in shown}
    assert set(by_upload) == {photo, video}
    assert by_upload[video]["times"] == [12.5]
    assert by_upload[photo]["times"] == []


def test_people_are_placed_with_the_distances_the_faces_function_reports() -> None:
    # One table serves both: the faces function's result and search's default can never disagree.
    assert IndexSettings().same_person_distance == SAME_PERSON_DISTANCE
