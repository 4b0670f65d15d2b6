#!/usr/bin/env python
"""Django's command-line utility for example_project, the main shop of the demo."""

import os
import sys


def main() -> None:
    """Run a management command with example_project's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
