"""Outbox delivery as a task, where Django's Tasks framework is available and configured.

Django 6 ships ``django.tasks`` and Django 5.2 has the ``django-tasks`` backport. When a
project sets ``TASKS``, each committed deletion enqueues ``deliver_outbox`` there instead
of starting the delivery thread. A delivery that leaves events pending after a failure
enqueues its own retry for when the next one is due (the backoff of ``outbox.backoff``),
for as long as events are pending; on a backend that cannot defer, this process's
delivery thread keeps the schedule instead.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from . import outbox

__all__ = ["deliver_outbox", "tasks_configured"]

try:
    from django.tasks import task
except ImportError:
    try:
        from django_tasks import task  # the backport, on Django 5.2
    except ImportError:
        task = None


def tasks_configured() -> bool:
    """Return whether deliveries go through the Tasks framework (available and configured)."""
    # is_overridden() is public API the stubs lack.
    return task is not None and settings.is_overridden("TASKS")  # type: ignore[misc]


def _as_task(func: Any) -> Any:
    # Django 6.1 pickles a task as the import path of its function and expects a task
    # there: the task must be the module attribute named like the function.
    return task(func) if task is not None else None


@_as_task
def deliver_outbox(using: str = DEFAULT_DB_ALIAS, attempt: int = 0) -> int:
    """Deliver the due events of ``using``; after a failure, enqueue the next attempt.

    Only a run that failed enqueues a retry, so however many deletions enqueued a run,
    one chain of retries is left once they are done. ``attempt`` counts the chain.
    """
    report = outbox.deliver_pending(using=using)
    if report.failed:
        due = outbox.next_due(using)
        if due is not None:
            retry: Any = deliver_outbox
            if retry.get_backend().supports_defer:
                run_after = max(due, timezone.now())
                retry.using(run_after=run_after).enqueue(using, attempt + 1)
            else:
                outbox.background.start(using)
    return report.delivered_count

