"""What a request works with, built once by `create_app` and handed down: settings, the pipeline, the store, Redis."""

from __future__ import annotations

from flask import current_app
from redis import Redis

from scheduler.service import Pipeline
from storage.client import Store

from .settings import UiSettings


def pipeline() -> Pipeline:
    found: Pipeline = current_app.extensions["medialens.pipeline"]
    return found


def store() -> Store:
    return pipeline().store


def redis() -> Redis:
    return pipeline().redis


def ui_settings() -> UiSettings:
    found: UiSettings = current_app.extensions["medialens.ui"]
    return found
