# The medialens app image: the scheduler's intake and RQ workers and the web app/API. One image for
# all of them; the faasd compose `command` picks the service (gateway-config/docker-compose.medialens.yaml).
# The analyzers are not in it: each function is an image of its own, built by faas-cli from stack.yml.
#
#   docker build -t ghcr.io/<you>/medialens:<tag> . && docker push ghcr.io/<you>/medialens:<tag>
#   (then on the VPS: MEDIALENS_IMAGE=ghcr.io/<you>/medialens:<tag> make deploy)
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    OMP_NUM_THREADS=1

# The uid the compose file runs every app service as (user: "10001:10001").
RUN useradd --uid 10001 --create-home app
WORKDIR /app

COPY requirements/services.txt requirements/services.txt
RUN pip install -r requirements/services.txt

# What each function is (timeouts, GPU) comes from stack.yml, through the function catalog.
COPY stack.yml ./
COPY functions/catalog.py functions/catalog.py
# Every process logs through the one JSON setup, kept with the code functions share.
COPY functions/common/__init__.py functions/common/logs.py functions/common/
# Search places faces into people with the faces function's own same-person distances.
COPY functions/faces/__init__.py functions/faces/same_person.py functions/faces/
COPY storage/ storage/
COPY scheduler/ scheduler/
COPY search/ search/
COPY gpu/ gpu/
COPY accounts/ accounts/
COPY ui/ ui/

USER app
CMD ["python", "-m", "ui.app"]
