"""SMTP URL reading and masking, template choice and the sandbox."""

from __future__ import annotations

import pytest

from tests.mail import helpers
from webapp.mail import render, smtp


def test_smtp_urls_are_read_and_masked():
    s = smtp.parse_url("smtp://ann%40x:p%40ss@mail.example.com:587?starttls=1")
    assert (s.host, s.port, s.starttls, s.tls, s.user, s.password) == (
        "mail.example.com",
        587,
        True,
        False,
        "ann@x",
        "p@ss",
    )
    assert "p@ss" not in s.masked() and "********" in s.masked()
    assert smtp.parse_url("smtps://h").port == 465
    assert smtp.parse_url("smtp://h").port == 25
    assert "secret" not in smtp.masked("smtps://u:secret@h")
    with pytest.raises(smtp.SmtpConfigError):
        smtp.parse_url("http://h")


def test_store_template_language_fallback_and_default(app, store):
    store.default_language = "fr"
    helpers.add_templates(store.id, language="fr", subject="Note pour {{ name }}")
    assert render.source_for(store.id, helpers.KIND, "de").origin == "store:fr"
    helpers.add_templates(store.id, language="de", subject="Notiz")
    assert render.source_for(store.id, helpers.KIND, "de").origin == "store:de"
    # the shipped test kind: French default, English when a language has none
    assert render.source_for(store.id, "test", "fr").origin == "default:fr"
    assert render.source_for(store.id, "test", "it").origin == "default:fr"  # the store's
    store.default_language = "en"
    assert render.source_for(store.id, "test", "it").origin == "default:en"
    with pytest.raises(render.TemplateMissing):
        render.source_for(store.id, "nothing_shipped", "en")


def test_the_sandbox_refuses_unsafe_templates_and_escapes_html():
    source = render.Source("{{ x.__class__.__mro__ }}", "t", None, "store:en", "en")
    with pytest.raises(render.RenderError):
        render.render_source(source, {"x": ""})
    ok = render.render_source(
        render.Source("A\r\nBcc: evil@x {{ x }}", "{{ x }}", "<p>{{ x }}</p>", "s", "en"),
        {"x": "<script>"},
    )
    assert ok.html == "<p>&lt;script&gt;</p>" and ok.text == "<script>"
    assert "\n" not in ok.subject and "\r" not in ok.subject


def test_every_shipped_template_renders_on_its_sample():
    from webapp.mail import (
        SAMPLES,
        sender,  # noqa: F401 - registers the test kind and its sample
    )

    files = sorted(render.SHIPPED.glob("*.subject.txt"))
    assert {f.name.split(".")[0] for f in files} >= {"test", "digital_keys"}
    for path in files:
        kind, *lang = path.name.removesuffix(".subject.txt").split(".")
        source = render.shipped(kind, lang[0] if lang else None)
        done = render.render_source(source, SAMPLES[kind])
        assert done.subject and done.text.strip(), path.name
    keys = render.render_source(render.shipped("digital_keys"), SAMPLES["digital_keys"])
    assert "AAAAA-BBBBB-CCCCC" in keys.text and "<code>AAAAA-BBBBB-CCCCC</code>" in keys.html
