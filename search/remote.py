"""Search's calls to a function through the gateway (clip, embed): one attempt, its failures as exceptions.

The caller is a web request (answered now, so nothing waits here) or an RQ job (whose own retries try
again later): neither holds the model, which the function owns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from functions import catalog
from scheduler import routing
from scheduler.calls import Payload
from scheduler.gateway import Verdict
from scheduler.transport import GatewayError

logger = logging.getLogger(__name__)


class FunctionUnavailable(RuntimeError):
    """The function gives no usable answer now (unreachable, not deployed, loading, failing, no model):
    no fault of the input, so worth trying again later. The message is for a person."""


class FunctionNotInstalled(FunctionUnavailable):
    """The function runs but has no model: an administrator's to install."""


class FunctionRejected(ValueError):
    """The function cannot use what it was given: the caller's to fix."""


@dataclass(frozen=True)
class RemoteFunction:
    """A function of stack.yml and what a person is told when it cannot answer."""

    name: str
    unreachable: str
    not_installed: str
    loading: str

    def call(self, payload: Payload) -> dict[str, Any]:
        """The function's JSON answer, from the gateway routing picks (its URLs signed for that gateway)."""
        gateway = routing.route(self.name)
        try:
            reply = gateway.invoke(self.name, payload(gateway), catalog.spec(self.name).timeout_s)
        except GatewayError as exc:
            logger.warning("the %s function could not be reached: %s", self.name, exc)
            raise FunctionUnavailable(self.unreachable) from exc
        if reply.verdict == Verdict.NOT_DEPLOYED:
            # To a reader the same as a gateway away (an operator deploys it: the System page says so).
            logger.warning("the %s function is not deployed on gateway %s", self.name, gateway.name)
            raise FunctionUnavailable(self.unreachable)
        if reply.verdict == Verdict.UNAVAILABLE:
            # The function's own message names the directory on the server: logged, not shown.
            logger.info("the %s function has no model: %s", self.name, reply.error)
            raise FunctionNotInstalled(self.not_installed)
        if reply.verdict == Verdict.LOADING:
            raise FunctionUnavailable(self.loading)
        if reply.verdict == Verdict.REJECTED:
            raise FunctionRejected(reply.error)
        if reply.verdict != Verdict.OK:
            logger.warning("the %s function failed: %s", self.name, reply.error)
            raise FunctionUnavailable(f"the {self.name} function failed: {reply.error}")
        return reply.body
