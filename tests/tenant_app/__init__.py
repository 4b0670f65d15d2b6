"""Tenant models for tests/test_tenancy.py: django-multitenant's and native ``TenantMeta`` ones."""
