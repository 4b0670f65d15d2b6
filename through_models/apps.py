"""App configuration of the custom through models."""

from django.apps import AppConfig


class ThroughModelsConfig(AppConfig):
    name = "through_models"
    verbose_name = "Through models"
    default_auto_field = "django.db.models.BigAutoField"
