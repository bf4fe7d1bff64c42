"""Sending e-mail through the SMTP server the configuration names (none: no e-mail is sent)."""

import smtplib
from email.message import EmailMessage

from creditbank.config import Settings


class MailFailed(Exception):
    """The SMTP server refused or could not be reached; the message says which."""


def enabled(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def send(settings: Settings, to: str, subject: str, body: str) -> None:
    """Send one plain-text message.

    Raises:
        MailFailed: the server could not be reached or refused the message.
    """
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailFailed(f"{type(exc).__name__}: {exc}") from exc
