"""The in-process simulation: every platform a function call, for quick experiments.

The same round code as the deployment (:mod:`federation.training`), with no Flower
processes: the trainer's ``send`` calls each platform's :func:`training.contribute` in
turn. Platforms read their picks from the round request (a
:class:`~federation.coordinators.LocalCoordinator`) or from the gateway through their
own SDK client (a :class:`~federation.coordinators.GatewayCoordinator`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from federation.alliance_data import PlatformData
from federation.training import Reply, RoundRequest, Send, contribute

Picks = Callable[[int, RoundRequest], Sequence[tuple[str, float]]]


def request_picks(platform: int, request: RoundRequest) -> Sequence[tuple[str, float]]:
    """The picks a local coordinator put in the request."""
    picks = request.planned.picks
    if picks is None:
        raise ValueError("this round's picks are at the gateway: give the platforms clients")
    return picks[platform]


def in_process(
    partitions: Sequence[PlatformData],
    noise: Sequence[np.random.Generator],
    picks: Picks = request_picks,
    *,
    down: Callable[[int, int], bool] = lambda platform, number: False,
) -> Send:
    """A ``send`` that asks each platform in process; ``down(p, round)`` simulates a
    platform that does not answer that round."""

    def send(request: RoundRequest) -> tuple[list[Reply], list[str]]:
        replies: list[Reply] = []
        lost: list[str] = []
        for platform, data in enumerate(partitions):
            if down(platform, request.planned.plan.round):
                lost.append(f"platform {platform}: no reply")
                continue
            total = contribute(request, data, picks(platform, request), noise[platform])
            replies.append(Reply(platform, total))
        return replies, lost

    return send
