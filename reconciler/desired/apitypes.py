"""The proxy-router's seven apiTypes: which endpoints each serves, its default URL path, whether it needs a key.

One table so that validation, the two models-config files and the docs agree. The chat types (`openai`,
`claudeai`) are translated by our forwarder and reach it on its OpenAI paths; the image, video and decisions
types are built by the router itself (its adapters write the upstream request), so the router keeps the real
apiType and reaches the forwarder on a relay path that names the model (`/v1/relay/<model id>`), and the
forwarder passes the request on unchanged except for the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.desired.model import ENDPOINT_PATHS, Endpoint

# The forwarder's path for relayed models; the model id follows it. Kept in step with proxy/relay.py.
RELAY_PATH = "/v1/relay/"

_CHAT_KINDS = (Endpoint.CHAT, Endpoint.EMBEDDINGS, Endpoint.AUDIO_SPEECH, Endpoint.AUDIO_TRANSCRIPTION)


@dataclass(frozen=True)
class ApiType:
    """What one apiType serves; `paths` are added to the upstream's baseUrl unless the model gives a full URL."""

    name: str
    endpoints: tuple[Endpoint, ...]  # the first is the default
    paths: Mapping[Endpoint, str]
    key_header: str  # how the upstream wants the key (for messages and docs)
    key_required: bool = True
    relayed: bool = False  # the router builds the upstream request; the forwarder relays it by path

    @property
    def default_endpoint(self) -> Endpoint:
        return self.endpoints[0]


API_TYPES: dict[str, ApiType] = {
    t.name: t
    for t in (
        ApiType("openai", _CHAT_KINDS, ENDPOINT_PATHS, "Authorization: Bearer"),
        # claudeai keeps what it always allowed; the forwarder serves only its chat endpoint (`/messages`).
        ApiType("claudeai", _CHAT_KINDS, {**ENDPOINT_PATHS, Endpoint.CHAT: "/messages"}, "x-api-key"),
        ApiType("prodia-sd", (Endpoint.IMAGE,), {Endpoint.IMAGE: "/sd/generate"}, "X-Prodia-Key", relayed=True),
        ApiType("prodia-sdxl", (Endpoint.IMAGE,), {Endpoint.IMAGE: "/sdxl/generate"}, "X-Prodia-Key", relayed=True),
        ApiType(
            "prodia-v2",
            (Endpoint.IMAGE, Endpoint.VIDEO),
            {Endpoint.IMAGE: "/job", Endpoint.VIDEO: "/job"},
            "Authorization: Bearer",
            relayed=True,
        ),
        ApiType(
            "hyperbolic-sd",
            (Endpoint.IMAGE,),
            {Endpoint.IMAGE: "/image/generation"},
            "Authorization: Bearer",
            relayed=True,
        ),
        # Decisions sends its key only when one is set, so an upstream without a key is fine.
        ApiType(
            "decisions",
            (Endpoint.DECISIONS,),
            {Endpoint.DECISIONS: "/decisions"},
            "Authorization: Bearer",
            key_required=False,
            relayed=True,
        ),
    )
}


def types_serving(endpoint: Endpoint) -> list[str]:
    """The apiTypes that serve `endpoint` (for error messages)."""
    return [t.name for t in API_TYPES.values() if endpoint in t.endpoints]
