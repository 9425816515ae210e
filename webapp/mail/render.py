"""Rendering an e-mail: the store's own template for its kind and language, else the
shipped default, in a Jinja sandbox (a store's template can read its context, nothing else).

Which template (first found): the store's for the message's language (the order's), the
store's for its default language, the shipped ``webapp/templates/mail/<kind>.<language>.*``
for those two languages, then the store's English one, then the shipped ``<kind>.*``
(English). Each has a subject (one line), a text body and optionally an HTML
body; HTML is autoescaped, text and subject are not (they are not HTML).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import MailTemplate, Store

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
SHIPPED = Path(__file__).resolve().parent.parent / "templates" / "mail"
_TEXT = SandboxedEnvironment(
    autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True
)
_HTML = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


class TemplateMissing(LookupError):
    pass


class RenderError(ValueError):
    pass


@dataclass
class Source:
    subject: str
    text: str
    html: str | None
    origin: str  # "store:<lang>" or "default:<lang>"
    language: str


@dataclass
class Rendered:
    subject: str
    text: str
    html: str | None
    origin: str


def shipped(kind: str, language: str | None = None) -> Source | None:
    """The shipped default of ``kind`` in ``language`` (None: the English one)."""
    if not _NAME.fullmatch(kind) or (language and not _NAME.fullmatch(language)):
        return None  # never a path out of the folder
    suffix = f".{language}" if language and language != "en" else ""
    text = SHIPPED / f"{kind}{suffix}.txt"
    subject = SHIPPED / f"{kind}{suffix}.subject.txt"
    if not text.is_file() or not subject.is_file():
        return None
    html = SHIPPED / f"{kind}{suffix}.html"
    return Source(
        subject=subject.read_text(encoding="utf-8").strip(),
        text=text.read_text(encoding="utf-8"),
        html=html.read_text(encoding="utf-8") if html.is_file() else None,
        origin=f"default:{language or 'en'}",
        language=language or "en",
    )


def store_template(store_id: int, kind: str, language: str) -> MailTemplate | None:
    return db.session.scalar(
        select(MailTemplate).where(
            MailTemplate.store_id == store_id,
            MailTemplate.kind == kind,
            MailTemplate.language == language,
        )
    )


def source_for(store_id: int, kind: str, language: str | None) -> Source:
    store = db.session.get(Store, store_id)
    default_language = (store.default_language if store is not None else None) or "en"
    languages = list(dict.fromkeys(lang for lang in (language, default_language) if lang))
    for own_first in (languages, ["en"]):
        for lang in own_first:
            own = store_template(store_id, kind, lang)
            if own is not None:
                return Source(own.subject, own.text_body, own.html_body, f"store:{lang}", lang)
        for lang in own_first:
            found = shipped(kind, lang)
            if found is not None:
                return found
    raise TemplateMissing(f"No template for e-mails of kind {kind!r}: none shipped, none saved.")


def render_source(source: Source, context: dict) -> Rendered:
    """Render a template's three parts on ``context`` in the sandbox; a template error (a
    typo, an unknown variable, something the sandbox forbids) is a :class:`RenderError`
    naming the part."""
    out = {}
    for part, env, body in (
        ("subject", _TEXT, source.subject),
        ("text", _TEXT, source.text),
        ("html", _HTML, source.html),
    ):
        if body is None:
            out[part] = None
            continue
        try:
            out[part] = env.from_string(body).render(**context)
        except TemplateError as exc:
            raise RenderError(f"The {part} template does not render: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - a store's template must never crash a send
            raise RenderError(
                f"The {part} template does not render: {type(exc).__name__}: {exc}"
            ) from exc
    subject = " ".join((out["subject"] or "").split())  # one line, never a header injection
    return Rendered(subject, out["text"] or "", out["html"], source.origin)


def render(store_id: int, kind: str, language: str | None, context: dict) -> Rendered:
    return render_source(source_for(store_id, kind, language), context)


def check(subject: str, text: str, html: str | None) -> None:
    """Raise :class:`RenderError` if a template does not even parse (saved ones must)."""
    for part, env, body in (
        ("subject", _TEXT, subject),
        ("text", _TEXT, text),
        ("html", _HTML, html),
    ):
        if body:
            try:
                env.parse(body)
            except TemplateError as exc:
                raise RenderError(f"The {part} template has an error: {exc}") from exc
