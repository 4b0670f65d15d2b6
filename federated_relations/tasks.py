"""Outbox delivery as a task, where Django's Tasks framework is available and configured.

Django 6 ships ``django.tasks`` and Django 5.2 has the ``django-tasks`` backport. When a
project sets ``TASKS``, each committed deletion enqueues ``deliver_outbox`` there instead
of starting the delivery thread, and a failed delivery enqueues its own retry with
backoff (on backends that can defer; otherwise ``manage.py federation_deliver`` sends
what is left).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

__all__ = ["MAX_TASK_ATTEMPTS", "deliver_outbox", "tasks_configured"]

#: Enqueued retries of one delivery before the rest is left to ``federation_deliver``.
MAX_TASK_ATTEMPTS = 10

try:
    from django.tasks import task
except ImportError:
    try:
        from django_tasks import task  # the backport, on Django 5.2
    except ImportError:
        task = None


def tasks_configured() -> bool:
    """Return whether deliveries go through the Tasks framework (available and configured)."""
    return task is not None and settings.is_overridden("TASKS")


def _deliver_outbox(using: str = DEFAULT_DB_ALIAS, attempt: int = 0) -> int:
    """Deliver the pending events of ``using``; enqueue a retry if a peer failed."""
    from .events import backoff, deliver_pending

    report = deliver_pending(using=using, include_not_due=True)
    if report.failed and attempt < MAX_TASK_ATTEMPTS:
        retry: Any = deliver_outbox
        if retry.get_backend().supports_defer:
            run_after = timezone.now() + backoff(attempt)
            retry.using(run_after=run_after).enqueue(using, attempt + 1)
    return report.delivered_count


deliver_outbox = task(_deliver_outbox) if task is not None else None
