"""The mail tests' own e-mail kind (registered here, by the tests, as a feature would)."""

from __future__ import annotations

from webapp.mail import AFTER_SENT, mail_kind, on_sent

KIND = "test_note"
SENT_HOOK_CALLS: list[int] = []


@mail_kind(KIND, label="Test note", sample={"name": "Sample customer", "code": "SAMPLE-CODE"})
def note_context(subject_id: int) -> dict:
    return {"name": f"Customer <{subject_id}>", "code": f"CODE-{subject_id:04d}"}


if not AFTER_SENT.get(KIND):

    @on_sent(KIND)
    def _after(message) -> None:
        SENT_HOOK_CALLS.append(message.subject_id)


def add_templates(store_id: int, language: str = "en", subject="Note for {{ name }}") -> None:
    from webapp.extensions import db
    from webapp.models import MailTemplate

    db.session.add(
        MailTemplate(
            store_id=store_id,
            kind=KIND,
            language=language,
            subject=subject,
            text_body="Hello {{ name }}, your code is {{ code }}.\n",
            html_body="<p>Hello {{ name }}, your code is <b>{{ code }}</b>.</p>",
        )
    )
    db.session.commit()
