"""gateway-config/deploy.py for the tests (its folder name has a dash, so it is loaded by path)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

GATEWAY_CONFIG = Path(__file__).resolve().parent.parent / "gateway-config"


def _load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("medialens_gateway_deploy", GATEWAY_CONFIG / "deploy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while the class bodies run.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


deploy = _load()
