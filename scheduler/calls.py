"""One step's function call with retries: transient errors retried, bad input reported."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from functions import catalog

from .context import settings
from .gateway import Gateway, Reply, Verdict
from .transport import GatewayError, TimedOut, Unreachable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How a call ended: ok, rejected (bad input), unavailable (engine missing, or busy past the wait) or error."""

    kind: str
    result: dict[str, Any]
    reason: str
    gateway: str
    attempts: int


Payload = Callable[[Gateway], dict[str, Any]]


def call(
    function: str,
    payload: Payload,
    route: Callable[[str], Gateway],
    on_attempt: Callable[[int, str], None] | None = None,
) -> Outcome:
    """`payload` makes the request for the gateway an attempt goes to: its presigned URLs must name
    the store's address that the functions behind that gateway reach."""
    s = settings()
    timeout = catalog.spec(function).timeout_s
    delay = s.retry_backoff_s
    not_ready_until = time.monotonic() + s.not_ready_wait_s
    outage_until = time.monotonic() + s.outage_wait_s
    outage_pause = s.retry_backoff_s
    attempt = 0
    last_reason = ""
    gateway_name = ""
    while True:
        attempt += 1
        gateway = route(function)
        gateway_name = gateway.name
        if on_attempt:
            on_attempt(attempt, gateway_name)
        try:
            reply: Reply | None = gateway.invoke(function, payload(gateway), timeout)
        except Unreachable as exc:
            # The gateway is down or restarting: that is no fault of the file, so wait for it
            # (without spending attempts) as long as `outage_wait_s` allows.
            last_reason = f"gateway {gateway_name} could not be reached"
            if time.monotonic() < outage_until:
                logger.warning("%s: %s (%s); waiting %.0f s", function, last_reason, exc, outage_pause)
                attempt -= 1
                time.sleep(outage_pause)
                outage_pause = min(outage_pause * 2, 30.0)
                continue
            return Outcome("error", {}, f"{last_reason} for {s.outage_wait_s:.0f} s", gateway_name, attempt)
        except TimedOut:
            reply, last_reason = None, f"{function} did not answer within {timeout:.0f} s"
        except GatewayError as exc:
            reply, last_reason = None, f"gateway {gateway_name} unreachable: {exc}"
        if reply is not None:
            verdict = reply.verdict
            if verdict in (Verdict.OK, Verdict.REJECTED, Verdict.UNAVAILABLE):
                return Outcome(verdict.value, reply.body, reply.error if verdict != Verdict.OK else "",
                               gateway_name, attempt)
            if verdict == Verdict.NOT_DEPLOYED:
                return Outcome("error", reply.body, f"function {function} is not deployed", gateway_name, attempt)
            last_reason = f"{function} failed: {reply.error}"
            if verdict == Verdict.LOADING:
                # A model still loading, a store the function cannot reach or an engine's busy service
                # (a rate limit) is no fault of the file: wait as asked, without spending an attempt,
                # and should it last, skip the step with the reason rather than fail the upload.
                left = max(not_ready_until, outage_until) - time.monotonic()
                if left <= 0:
                    waited = max(s.not_ready_wait_s, s.outage_wait_s)
                    return Outcome("unavailable", reply.body, f"{reply.error} (still so after {waited:.0f} s)",
                                   gateway_name, attempt)
                attempt -= 1
                time.sleep(min(reply.retry_after_s or 1.0, left))
                continue
            if verdict == Verdict.ERROR:
                return Outcome("error", reply.body, last_reason, gateway_name, attempt)
        if attempt >= s.step_attempts:
            return Outcome("error", {}, f"{last_reason} (after {attempt} attempts)", gateway_name, attempt)
        logger.warning("%s attempt %d failed: %s", function, attempt, last_reason)
        time.sleep(delay)
        delay = min(delay * 2, 10.0)
