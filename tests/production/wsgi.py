"""The WSGI application gunicorn serves (``tests.production.settings``)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.production.settings")
application = get_wsgi_application()
