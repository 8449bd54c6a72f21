"""A worker host: RQ workers and a functions host on a machine of their own, against the Redis, S3 and
index that another machine shares (`make worker JOIN=join.json`).

It is the embedded stack with two services kinds and a different address book: the workers find
the sharing machine's Redis, S3 and index in the join file (TLS, with the join file's CA as their
only trust anchor); the functions host stays on this machine's loopback, behind a token of its own,
and fetches from and writes to the shared S3 through the presigned URLs the workers hand it.
The same supervisor keeps them alive, and `make down` drains them, as on the first machine.
"""

from __future__ import annotations

import socket
from pathlib import Path

from redis import Redis

from .joining import JoinFile
from .private import private_dir, write_private
from .settings import EmbeddedSettings
from .stack import Service, Stack, functions_host, workers

CA_FILE = "storage-ca.pem"
# Names the join file this state directory was started with: `make status` and `make down` need no JOIN.
JOINED = "joined"


class WorkerHost(Stack):
    def __init__(self, settings: EmbeddedSettings | None = None) -> None:
        super().__init__(settings)
        self.join = JoinFile.load(Path(self.settings.join_file))

    @property
    def ca_file(self) -> Path:
        return self.state / CA_FILE

    def environment(self) -> dict[str, str]:
        join = self.join
        return super().environment() | {
            "MEDIALENS_S3_ENDPOINT": join.s3_endpoint,
            "MEDIALENS_S3_ACCESS_KEY": join.s3_access_key,
            "MEDIALENS_S3_SECRET_KEY": join.s3_secret_key,
            # Workspace credentials are issued on the sharing machine, never here.
            "MEDIALENS_S3_SEAWEED_MASTER": "",
            "MEDIALENS_SCHEDULER_REDIS_URL": join.redis_url,
            "MEDIALENS_SCHEDULER_WORKER_PREFIX": self.settings.host_name or socket.gethostname(),
            "MEDIALENS_INDEX_SERVER_URL": join.index_url,
            "MEDIALENS_INDEX_TOKEN": join.index_token,
            "MEDIALENS_FN_ALLOWED_ORIGINS": join.s3_endpoint,
            # Redis (redis-py), S3 (minio, and httpx in the functions) and Chroma's client all take their
            # trust anchors from here: the sharing machine's CA alone.
            "SSL_CERT_FILE": str(self.ca_file),
        }

    def redis_url(self, db: int = 0) -> str:
        return self.join.redis_url

    def redis(self, db: int = 0) -> Redis:
        return Redis.from_url(self.join.redis_url, ssl_ca_certs=str(self.ca_file))

    def services(self) -> list[Service]:
        s = self.settings
        private_dir(self.state)
        write_private(self.ca_file, self.join.ca_pem)
        write_private(self.state / JOINED, str(Path(self.settings.join_file).resolve()))
        return [functions_host(s), *workers(s.workers)]


def open_stack(settings: EmbeddedSettings | None = None) -> Stack:
    """This machine's stack: a worker host when it was given a join file, the whole platform otherwise."""
    settings = settings or EmbeddedSettings()
    joined = settings.state_dir / JOINED
    if not settings.join_file and joined.exists():
        settings = settings.model_copy(update={"join_file": joined.read_text().strip()})
    return WorkerHost(settings) if settings.join_file else Stack(settings)
