"""Encoded request bodies, shared by the requests that differ only in their repeat index.

The n samples of one prompt send identical bytes (the repeat index only keys the cache), and a
body carries every frame in base64: building and encoding it once per prompt, not once per
sample, removes most of the per-request encoding work and the memory of n copies.
"""

from __future__ import annotations

from collections.abc import Mapping

from emoalign.query.providers.base import Provider
from emoalign.query.request import Request


class Bodies:
    """The last ``size`` bodies one provider encoded, by request content."""

    def __init__(self, provider: Provider, size: int) -> None:
        self._provider = provider
        self._size = size
        self._bodies: dict[tuple[str, str], bytes] = {}

    def get(self, request: Request, images: Mapping[str, bytes]) -> bytes:
        # The content names every image by the digest of its bytes, so it decides the body.
        key = request.content()
        body = self._bodies.get(key)
        if body is None:
            body = self._provider.encode(self._provider.payload(request, images))
            self._bodies[key] = body
            if len(self._bodies) > self._size:
                # The oldest entry: the samples of a prompt are sent together, so it is done.
                del self._bodies[next(iter(self._bodies))]
        return body
