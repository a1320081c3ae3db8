"""The content parts of a chat message, and `_Strict`, the base of every chat-request model.

A message's `content` is a string or a list of parts (`ChatRequestBody` in
`chat_request.py` picks which parts each role may carry): text, `image_url` (an `https:`
or `data:image/...` URL), and refusal (assistant turns only). `UserContent`,
`TextContent` and `AssistantContent` are those choices as validated types; a part of any
other type is a 400 naming its index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Tag, field_validator
from pydantic_core import PydanticCustomError

#: Most content parts of one message.
MAX_PARTS = 1024
#: Image URL schemes a provider can be asked to fetch or decode.
IMAGE_URL_PREFIXES = ("https://", "data:image/")


class _Strict(BaseModel):
    """Strict types; unknown fields pass through (they stay in the raw body that is forwarded)."""

    model_config = ConfigDict(strict=True, extra="allow")


class ImageUrl(_Strict):
    """`image_url` of an image part: an `https:` URL or a `data:image/...` URL."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(IMAGE_URL_PREFIXES):
            raise PydanticCustomError(
                "image_url", "an image URL must start with https:// or data:image/"
            )
        return value


class TextPart(_Strict):
    """`{"type": "text", "text": ...}`."""

    type: Literal["text"]
    text: str


class ImagePart(_Strict):
    """`{"type": "image_url", "image_url": {"url": ...}}`."""

    type: Literal["image_url"]
    image_url: ImageUrl


class RefusalPart(_Strict):
    """`{"type": "refusal", "refusal": ...}` (assistant turns only)."""

    type: Literal["refusal"]
    refusal: str


def _parts(allowed: tuple[str, ...]) -> Any:
    """BeforeValidator: a list of content parts whose types are all in `allowed`."""

    def check(value: Any) -> Any:
        if not isinstance(value, list):
            return value
        if not value:
            raise PydanticCustomError("content_parts", "content parts must not be empty")
        if len(value) > MAX_PARTS:
            raise PydanticCustomError(
                "content_parts", "at most {limit} content parts", {"limit": MAX_PARTS}
            )
        for index, part in enumerate(value):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in allowed:
                raise PydanticCustomError(
                    "content_part",
                    "content part {index}: type {kind} is not supported here (supported: "
                    "{allowed})",
                    {"index": index, "kind": repr(kind), "allowed": ", ".join(allowed)},
                )
        return value

    return BeforeValidator(check)


def _by(key: str) -> Discriminator:
    """A discriminator on `key` whose tags ("part:text") stay out of error locations."""
    return Discriminator(lambda v: f"{key}:{v.get(key) if isinstance(v, dict) else None}")


def _content_tag(value: Any) -> str:
    return "content:text" if isinstance(value, str) else "content:parts"


def _content(part: Any, allowed: tuple[str, ...]) -> Any:
    """A string or a list of `part`s (error locations name neither union member)."""
    union = Annotated[str, Tag("content:text")] | Annotated[list[part], Tag("content:parts")]
    return Annotated[union, Discriminator(_content_tag), _parts(allowed)]


if TYPE_CHECKING:
    UserContent: TypeAlias = str | list[Any]
    TextContent: TypeAlias = str | list[Any]
    AssistantContent: TypeAlias = str | list[Any]
else:
    UserContent = _content(
        Annotated[
            Annotated[TextPart, Tag("type:text")] | Annotated[ImagePart, Tag("type:image_url")],
            _by("type"),
        ],
        ("text", "image_url"),
    )
    TextContent = _content(TextPart, ("text",))
    AssistantContent = _content(
        Annotated[
            Annotated[TextPart, Tag("type:text")] | Annotated[RefusalPart, Tag("type:refusal")],
            _by("type"),
        ],
        ("text", "refusal"),
    )
