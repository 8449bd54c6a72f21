"""Text embedding lives in the embed function: no worker or web app loads a model; while the function gives no
answer, indexing waits and search says why."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from embedded.settings import free_port
from embedded.stack import Stack
from scheduler.context import Context, using
from scheduler.settings import SchedulerSettings
from scheduler.steps import INDEX, job_id
from search import queries
from search.hook import SearchHook
from search.index import index
from search.settings import settings
from search.text import MEANING_UNAVAILABLE
from tests.host_support import Host
from tests.search_data import SearchEnv

pytest_plugins = ["tests.search_support"]

PROJECT = Path(__file__).resolve().parent.parent

TALK = {"transcribe": {"language": "en", "segments": [
    {"start": 0.0, "end": 4.0, "text": "The harbour master reads the tide tables every morning."},
]}}


def test_a_worker_or_web_app_embeds_text_without_loading_a_model(embed_host: Host) -> None:
    # A fresh process (this one has imported torch for other tests) that embeds as an index job and a search do.
    code = ("import sys, scheduler.worker, search.jobs, search.queries, ui.app; from search import text; "
            "vectors = text.embedder().embed(['a dog on the beach', 'tide tables']); "
            "print((len(vectors), *{len(vector) for vector in vectors}), "
            "sorted({'torch', 'sentence_transformers', 'transformers'} & set(sys.modules)))")
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "MEDIALENS_SCHEDULER_GATEWAY_TOKEN": embed_host.token,
           "MEDIALENS_SCHEDULER_GATEWAYS": json.dumps({"cpu": embed_host.url})}
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(2, 384) []"


@pytest.fixture
def nowhere() -> str:
    """A gateway address nothing listens on: the embed function cannot be reached."""
    return f"http://127.0.0.1:{free_port()}"


def worker_context(env: SearchEnv, redis_server: Stack, gateway: str, token: str) -> Context:
    """What a worker has: the test's Redis, store and index, and the gateway named."""
    made = Context(SchedulerSettings(redis_url=redis_server.redis_url(15), gateways={"cpu": gateway},
                                     gateway_token=token), env.records.redis, env.store)
    made.shared("search.index", lambda: env.index)
    return made


@pytest.fixture
def queue(search_env: SearchEnv) -> Iterator[Queue]:
    yield Queue("index-retries", connection=search_env.records.redis)


def work(queue: Queue, context: Context) -> None:
    """One pass of a worker with its scheduler, as scheduler/worker.py runs them: due retries are queued."""
    with using(context):
        SimpleWorker([queue], connection=queue.connection).work(burst=True, with_scheduler=True)


def test_an_index_job_that_cannot_embed_runs_again_later_and_keeps_the_text(
    search_env: SearchEnv, redis_server: Stack, embed_host: Host, queue: Queue, nowhere: str
) -> None:
    upload = search_env.stored("tides.ogg", "audio", TALK)
    down = worker_context(search_env, redis_server, nowhere, embed_host.token)
    with using(down), queue.connection.pipeline() as pipe:
        SearchHook(search_env.records, queue, index).finished(upload, pipe)
        pipe.execute()
    work(queue, down)
    job = Job.fetch(job_id(upload, INDEX), connection=queue.connection)
    assert job.get_status() == JobStatus.SCHEDULED, "failed for good instead of waiting for the embed function"
    assert job.retries_left == len(settings().index_retry_s) - 1
    assert search_env.index.count(search_env.workspace, upload) == 0

    # The retry's time comes, and the embed function answers again.
    ScheduledJobRegistry(queue=queue).schedule(job, datetime.datetime.now(datetime.UTC))
    work(queue, worker_context(search_env, redis_server, embed_host.url, embed_host.token))
    assert job.get_status() == JobStatus.FINISHED
    found = queries.words(search_env.index, search_env.workspace, "when the tides come in at the port", 5,
                          [queries.SEMANTIC])
    assert [hit["upload_id"] for hit in found.hits] == [upload]


def test_a_search_while_the_embed_function_is_away_finds_words_and_says_why_not_meanings(
    search_env: SearchEnv, api_client: FlaskClient, monkeypatch: pytest.MonkeyPatch, nowhere: str
) -> None:
    upload = search_env.add("tides.ogg", "audio", TALK)
    monkeypatch.setenv("MEDIALENS_SCHEDULER_GATEWAYS", json.dumps({"cpu": nowhere}))
    with using():
        reply = api_client.get("/api/v1/search", query_string={"q": "tide tables"})
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert [(hit["upload_id"], hit["match"]) for hit in body["hits"]] == [(upload, "exact")]
    assert body["notice"] == MEANING_UNAVAILABLE
