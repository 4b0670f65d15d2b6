"""The ``FEDERATION`` settings: defaults, validation messages that name the key, reloading."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace
from unittest import mock

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

from federated_relations.conf import DEFAULTS, FederatedSettings, federated_settings, load_settings

PEER = {"URL": "http://127.0.0.1:8001/federation/", "KEY": "secret"}


@contextmanager
def federation(value=None, legacy=None):
    """Show ``conf`` these raw settings, without sending ``setting_changed``.

    Only ``load_settings`` sees them: no other receiver reads settings half-changed.
    """
    raw = SimpleNamespace(CACHES=settings.CACHES)
    if value is not None:
        raw.FEDERATION = value
    if legacy is not None:
        raw.FEDERATION_PROJECT_NAME = legacy
    with mock.patch("federated_relations.conf.settings", raw):
        yield


class DefaultsTests(SimpleTestCase):
    def test_defaults_cover_every_documented_key(self):
        self.assertEqual(
            set(DEFAULTS),
            {"PROJECT_NAME", "PEERS", "EXPOSE", "TIMEOUT", "CACHE_ALIAS", "CACHE_TTL",
             "ON_REMOTE_ERROR", "RETRY_BACKOFF", "RETRY_BACKOFF_MAX", "FLUSH_TIMEOUT"},
        )

    def test_minimal_settings_get_the_defaults(self):
        with federation({"PROJECT_NAME": "shop_a"}):
            values = load_settings()
        self.assertEqual(
            values,
            {
                "PROJECT_NAME": "shop_a",
                "PEERS": {},
                "EXPOSE": {},
                "TIMEOUT": 2.0,
                "CACHE_ALIAS": "default",
                "CACHE_TTL": 300,
                "ON_REMOTE_ERROR": "placeholder",
                "RETRY_BACKOFF": 1.0,
                "RETRY_BACKOFF_MAX": 300.0,
                "FLUSH_TIMEOUT": 5.0,
            },
        )

    def test_full_settings(self):
        value = {
            "PROJECT_NAME": "shop_a",
            "PEERS": {"shop_b": {"URL": "https://b.example/federation", "KEY": "k"}},
            "EXPOSE": {"testapp.Animal": ["common_name"]},
            "TIMEOUT": 1,
            "CACHE_ALIAS": "default",
            "CACHE_TTL": 0,
            "ON_REMOTE_ERROR": "raise",
        }
        with federation(value):
            values = load_settings()
        # A trailing slash is added to peer URLs; field lists become tuples.
        self.assertEqual(values["PEERS"]["shop_b"]["URL"], "https://b.example/federation/")
        self.assertEqual(values["EXPOSE"], {"testapp.Animal": ("common_name",)})
        self.assertEqual(values["ON_REMOTE_ERROR"], "raise")

    def test_attribute_access(self):
        self.assertEqual(federated_settings.PROJECT_NAME, "local_project")
        self.assertEqual(federated_settings.TIMEOUT, 2.0)
        with self.assertRaisesMessage(AttributeError, "Invalid federation setting: 'NOPE'"):
            _ = federated_settings.NOPE

    def test_legacy_project_name_alone(self):
        with federation(None, legacy="old_style"):
            self.assertEqual(load_settings()["PROJECT_NAME"], "old_style")

    def test_legacy_project_name_with_an_agreeing_dict(self):
        with federation({"PROJECT_NAME": "same"}, legacy="same"):
            self.assertEqual(load_settings()["PROJECT_NAME"], "same")

    def test_legacy_project_name_with_other_keys(self):
        with federation({"TIMEOUT": 3}, legacy="old_style"):
            values = load_settings()
        self.assertEqual((values["PROJECT_NAME"], values["TIMEOUT"]), ("old_style", 3))


class ReloadTests(SimpleTestCase):
    def test_reloaded_on_setting_changed(self):
        with override_settings(FEDERATION={"PROJECT_NAME": "elsewhere", "TIMEOUT": 5}):
            self.assertEqual(federated_settings.PROJECT_NAME, "elsewhere")
            self.assertEqual(federated_settings.TIMEOUT, 5)
        self.assertEqual(federated_settings.PROJECT_NAME, "local_project")
        self.assertEqual(federated_settings.TIMEOUT, 2.0)

    def test_reload_reads_the_legacy_setting(self):
        with federation(None, legacy="legacy"):
            federated_settings.reload()
            self.assertEqual(federated_settings.PROJECT_NAME, "legacy")
        federated_settings.reload()
        self.assertEqual(federated_settings.PROJECT_NAME, "local_project")

    def test_validated_lazily_once(self):
        accessor = FederatedSettings()
        with mock.patch("federated_relations.conf.load_settings", wraps=load_settings) as load:
            self.assertEqual(accessor.PROJECT_NAME, "local_project")
            self.assertEqual(set(accessor.PEERS), {"shop_b", "shop_c"})  # tests/settings.py
            self.assertEqual(load.call_count, 1)
            accessor.reload()
            self.assertEqual(set(accessor.PEERS), {"shop_b", "shop_c"})
            self.assertEqual(load.call_count, 2)


class InvalidSettingsTests(SimpleTestCase):
    """Every malformed value raises ``ImproperlyConfigured`` naming the key."""

    def assertInvalid(self, value, *fragments, legacy=None):
        with federation(value, legacy=legacy), self.assertRaises(ImproperlyConfigured) as ctx:
            load_settings()
        for fragment in fragments:
            self.assertIn(fragment, str(ctx.exception))

    def test_not_a_dict(self):
        self.assertInvalid(["PROJECT_NAME"], "FEDERATION must be a dict")

    def test_unknown_key(self):
        self.assertInvalid({"PROJECT_NAME": "a", "PEER": {}}, "unknown keys", "'PEER'")

    def test_missing_project_name(self):
        self.assertInvalid({}, "PROJECT_NAME", "required")
        self.assertInvalid(None, "PROJECT_NAME", "required")

    def test_project_name_not_a_string(self):
        self.assertInvalid({"PROJECT_NAME": 3}, "FEDERATION['PROJECT_NAME']", "got 3")

    def test_project_name_empty_or_with_bad_characters(self):
        self.assertInvalid({"PROJECT_NAME": ""}, "FEDERATION['PROJECT_NAME']")
        self.assertInvalid({"PROJECT_NAME": "shop a"}, "FEDERATION['PROJECT_NAME']")
        self.assertInvalid({"PROJECT_NAME": "x" * 101}, "FEDERATION['PROJECT_NAME']")

    def test_project_name_shared_is_reserved(self):
        self.assertInvalid({"PROJECT_NAME": "shared"}, "PROJECT_NAME", "reserved", "'shared'")

    def test_legacy_project_name_shared_is_reserved(self):
        self.assertInvalid(None, "PROJECT_NAME", "reserved", legacy="shared")

    def test_legacy_and_dict_disagree(self):
        self.assertInvalid(
            {"PROJECT_NAME": "a"}, "FEDERATION_PROJECT_NAME", "disagree", legacy="b"
        )

    def test_peers_not_a_dict(self):
        self.assertInvalid({"PROJECT_NAME": "a", "PEERS": ["shop_b"]}, "FEDERATION['PEERS']")

    def test_peer_not_a_dict(self):
        self.assertInvalid(
            {"PROJECT_NAME": "a", "PEERS": {"shop_b": "http://b/"}}, "PEERS", "'shop_b'"
        )

    def test_peer_with_a_bad_name(self):
        self.assertInvalid({"PROJECT_NAME": "a", "PEERS": {"shop b": PEER}}, "PEERS", "'shop b'")

    def test_peer_named_shared(self):
        self.assertInvalid({"PROJECT_NAME": "a", "PEERS": {"shared": PEER}}, "PEERS", "reserved")

    def test_peer_named_like_this_project(self):
        self.assertInvalid({"PROJECT_NAME": "a", "PEERS": {"a": PEER}}, "PEERS", "PROJECT_NAME")

    def test_peer_with_unknown_keys(self):
        self.assertInvalid(
            {"PROJECT_NAME": "a", "PEERS": {"b": {**PEER, "TOKEN": "x"}}}, "PEERS", "'TOKEN'"
        )

    def test_peer_url_missing_or_bad(self):
        for url in (None, "", "127.0.0.1:8001/federation/", "ftp://b/", "http://", 8001):
            with self.subTest(url=url):
                self.assertInvalid(
                    {"PROJECT_NAME": "a", "PEERS": {"b": {"URL": url, "KEY": "k"}}},
                    "['URL']",
                    "absolute http(s) URL",
                )

    def test_peer_key_missing_or_empty(self):
        for peer in ({"URL": PEER["URL"]}, {"URL": PEER["URL"], "KEY": ""},
                     {"URL": PEER["URL"], "KEY": 5}):
            with self.subTest(peer=peer):
                self.assertInvalid(
                    {"PROJECT_NAME": "a", "PEERS": {"b": peer}}, "['KEY']", "shared secret"
                )

    def test_expose_not_a_dict(self):
        self.assertInvalid({"PROJECT_NAME": "a", "EXPOSE": ["testapp.Animal"]}, "'EXPOSE'")

    def test_expose_bad_label(self):
        for label in ("Animal", "testapp.Animal.name", "", "test app.Animal"):
            with self.subTest(label=label):
                self.assertInvalid(
                    {"PROJECT_NAME": "a", "EXPOSE": {label: ["name"]}}, "'EXPOSE'", "app_label"
                )

    def test_expose_bad_field_list(self):
        for fields in ("name", [""], [3], None):
            with self.subTest(fields=fields):
                self.assertInvalid(
                    {"PROJECT_NAME": "a", "EXPOSE": {"testapp.Animal": fields}},
                    "'EXPOSE'",
                    "'testapp.Animal'",
                    "list of field names",
                )

    def test_timeout_not_positive(self):
        for timeout in (0, -1, 0.0):
            with self.subTest(timeout=timeout):
                self.assertInvalid({"PROJECT_NAME": "a", "TIMEOUT": timeout}, "'TIMEOUT'")

    def test_timeout_wrong_type(self):
        for timeout in ("2", None, True, [2]):
            with self.subTest(timeout=timeout):
                self.assertInvalid({"PROJECT_NAME": "a", "TIMEOUT": timeout}, "'TIMEOUT'")

    def test_cache_ttl(self):
        for ttl in (-1, 1.5, "300", None, False):
            with self.subTest(ttl=ttl):
                self.assertInvalid({"PROJECT_NAME": "a", "CACHE_TTL": ttl}, "'CACHE_TTL'")

    def test_cache_alias_unknown(self):
        self.assertInvalid(
            {"PROJECT_NAME": "a", "CACHE_ALIAS": "nope"}, "'CACHE_ALIAS'", "'nope'", "'default'"
        )
        self.assertInvalid({"PROJECT_NAME": "a", "CACHE_ALIAS": None}, "'CACHE_ALIAS'")

    def test_on_remote_error_unknown(self):
        self.assertInvalid(
            {"PROJECT_NAME": "a", "ON_REMOTE_ERROR": "ignore"},
            "'ON_REMOTE_ERROR'",
            "'placeholder'",
            "'raise'",
            "'ignore'",
        )

    def test_numbers_must_be_finite(self):
        for key in ("TIMEOUT", "RETRY_BACKOFF", "RETRY_BACKOFF_MAX", "FLUSH_TIMEOUT"):
            for value in (float("nan"), float("inf"), float("-inf")):
                with self.subTest(key=key, value=value):
                    self.assertInvalid({"PROJECT_NAME": "a", key: value}, f"'{key}'", "finite")

    def test_nan_backoff_max_does_not_pass_the_comparison(self):
        # NaN < RETRY_BACKOFF is False: only the finiteness test catches it.
        self.assertInvalid(
            {"PROJECT_NAME": "a", "RETRY_BACKOFF_MAX": float("nan")}, "'RETRY_BACKOFF_MAX'"
        )

    def test_numbers_have_a_maximum(self):
        for key, too_big in (("TIMEOUT", 601), ("FLUSH_TIMEOUT", 600.5),
                             ("RETRY_BACKOFF", 86401), ("RETRY_BACKOFF_MAX", 1e300),
                             ("CACHE_TTL", 10**400)):
            with self.subTest(key=key):
                self.assertInvalid({"PROJECT_NAME": "a", key: too_big}, f"'{key}'", "at most")

    def test_the_maximums_themselves_are_accepted(self):
        value = {"PROJECT_NAME": "a", "TIMEOUT": 600, "FLUSH_TIMEOUT": 600,
                 "RETRY_BACKOFF": 86400, "RETRY_BACKOFF_MAX": 86400.0}
        with federation(value):
            self.assertEqual(load_settings()["RETRY_BACKOFF_MAX"], 86400.0)


class ChecksWithBrokenSettingsTests(SimpleTestCase):
    """After a bad settings change, ``manage.py check`` reports E401 instead of crashing."""

    def test_check_urls_leaves_broken_settings_to_the_settings_check(self):
        from django.core import checks

        from federated_relations.checks import check_urls

        with override_settings(FEDERATION={"PROJECT_NAME": "a", "PEERS": ["b"]}):
            self.assertEqual(check_urls(), [])
            ids = [message.id for message in checks.run_checks()
                   if message.id and message.id.startswith("federated_relations.")]
        self.assertIn("federated_relations.E401", ids)
