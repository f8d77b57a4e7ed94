"""Email: rendering the text and HTML templates, and the consumers that send mail.

Mail leaves only from a Celery task on the `email` queue (the consumer's delivery task), never
from a request: an SMTP server that is slow or down delays mail, not the API, and a failed send
is retried by the outbox with backoff.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from crmApp.models import Event, User, UserOrganization
from crmApp.services.outbox import Consumer, consumer_register


def email_render(*, template: str, context: dict) -> tuple[str, str, str]:
    """(subject, text body, HTML body) from `email/<template>_subject.txt`, `.txt`, `.html`."""
    subject = render_to_string(f"email/{template}_subject.txt", context)
    text = render_to_string(f"email/{template}.txt", context)
    html = render_to_string(f"email/{template}.html", context)
    return " ".join(subject.split()), text, html


def email_send(*, to: list[str], template: str, context: dict, headers: dict | None = None) -> None:
    subject, text, html = email_render(template=template, context=context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        headers=headers or {},
    )
    message.attach_alternative(html, "text/html")
    message.send()


def member_joined_email(event: Event) -> None:
    """Tell the new member which organization they were added to.

    Runs once per event: the outbox delivery row (event, consumer) is marked delivered in the
    same transaction that follows the send. The event id travels in a header, so a mail that a
    crash made the outbox send twice can be recognised as the same notice.
    """
    user = User.objects.filter(pk=event.snapshot.get("user_id")).first()
    if user is None or not user.email:
        return
    organization = event.organization
    email_send(
        to=[user.email],
        template="member_joined",
        context={"user": user, "organization": organization, "actor": event.actor},
        headers={"X-CRM-Event-ID": str(event.pk)},
    )


MEMBER_JOINED_EMAIL = consumer_register(
    Consumer(
        name="member_joined_email",
        types=frozenset({"member.joined"}),
        handler=member_joined_email,
        queue="email",
    )
)


def webhook_disabled_email(event: Event) -> None:
    """Tell the organization's owners that one of its webhook endpoints was disabled."""
    owners = list(
        UserOrganization.objects.filter(
            organization_id=event.organization_id, is_owner=True, is_active=True
        )
        .exclude(user__email="")
        .order_by("user_id")
        .values_list("user__email", flat=True)
    )
    if not owners:
        return
    email_send(
        to=owners,
        template="webhook_disabled",
        context={
            "organization": event.organization,
            "url": event.snapshot.get("url", ""),
            "failures": event.snapshot.get("consecutive_failures", 0),
        },
        headers={"X-CRM-Event-ID": str(event.pk)},
    )


WEBHOOK_DISABLED_EMAIL = consumer_register(
    Consumer(
        name="webhook_disabled_email",
        types=frozenset({"webhook.disabled"}),
        handler=webhook_disabled_email,
        queue="email",
    )
)
