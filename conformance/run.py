"""Run Django's own generic-relations tests against ``federated_relations``.

Third-party database backends prove they are drop-ins by running Django's test suite
against themselves; this does the same for ``FederatedForeignKey``, ``FederatedRelation``,
``GenericContentType``, ``FederatedPrefetch``, the federated inline formsets and the
federated admin inlines.

It downloads the sdist of the installed Django from the package index (cached), extracts
its ``tests/`` into a temporary directory, rewrites the imports of the selected test apps
so that Django's names are ours (``from federated_relations.fields import
FederatedForeignKey as GenericForeignKey``...), installs ``federated_relations`` in
``runtests.py`` with a ``FEDERATION`` setting, and runs ``runtests.py`` on SQLite. Nothing
of Django's test code is kept in this repository.

Which tests run (``APPS`` below):

* whole modules where the module is about generic relations (``generic_relations``,
  ``generic_relations_regress``, ``generic_inline_admin``, ``model_meta``, the fields,
  checks and prefetch tests of ``contenttypes_tests``, ``model_fields.test_field_flags``);
* in the other apps, the test methods whose own source names a generic relation: a model
  of the app holding a ``GenericForeignKey``, a ``GenericRelation`` field of the app (as an
  attribute or a lookup), one of the mapped names (``ContentType``, ``GenericForeignKey``,
  ...), or a module-level name of the test module that itself does (an admin class
  filtering on a generic relation, say). The rule is applied to the test source of the
  Django version under test, so the selection follows Django's tests as they change.

``conformance/expected_differences.txt`` lists the tests expected to fail, each with its
reason (only: exact check ids/texts of Django, ``ContentType``'s own internals, APIs
Django removed). Every other selected test must pass. The run fails (exit status 1) on
an unexpected failure, when an expected difference passes (the list must stay exact), when
a test app selects no test or none of its tests passed, or when ``runtests.py`` did not
finish (its ``Ran N tests`` line is missing or disagrees with the results read); it prints
a table of passed / failed / expected per test app.

Usage: ``python conformance/run.py [-v] [--keep] [app ...]``. The cache of sdists is
``$FR_CONFORMANCE_CACHE``, else ``<temp dir>/federated_relations_conformance``.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXPECTED_FILE = HERE / "expected_differences.txt"
PROJECT_NAME = "conformance"

#: Test app -> (modules or classes run whole, modules whose generic tests are selected,
#: extra names that make a test generic there). A module is a path relative to the app,
#: dotted, without ``.py``.
APPS: dict[str, tuple[list[str], list[str], set[str]]] = {
    "generic_relations": (["tests", "test_forms"], [], set()),
    "generic_relations_regress": (["tests"], [], set()),
    "contenttypes_tests": (
        ["test_fields", "test_checks", "test_models.GenericPrefetchTests"], [], set()
    ),
    "generic_inline_admin": (["tests"], [], set()),
    "model_meta": (["tests"], [], set()),
    "model_fields": (["test_field_flags"], [], set()),
    "prefetch_related": ([], ["tests"], set()),
    "delete": ([], ["tests"], set()),
    "delete_regress": ([], ["tests"], set()),
    "aggregation_regress": ([], ["tests"], set()),
    "filtered_relation": ([], ["tests"], set()),
    "select_related": ([], ["tests"], set()),
    "custom_managers": ([], ["tests"], set()),
    "managers_regress": ([], ["tests"], set()),
    "multiple_database": ([], ["tests"], set()),
    # Every serializer round-trips the data of test_data, generic relations included.
    "serializers": (["test_data.SerializerDataTests"], [], set()),
    # sql_flush() of a table with a generic foreign key (Tag).
    "backends": ([], ["sqlite.test_operations"], {"Tag"}),
    "admin_checks": ([], ["tests"], set()),
    "admin_filters": ([], ["tests"], set()),
    "admin_views": ([], ["tests"], set()),
}

#: Django module -> {Django name: (our module, our name)}.
NAME_MAP: dict[str, dict[str, tuple[str, str]]] = {
    "django.contrib.contenttypes.fields": {
        "GenericForeignKey": ("federated_relations.fields", "FederatedForeignKey"),
        "GenericRelation": ("federated_relations.fields", "FederatedRelation"),
        "GenericRel": ("federated_relations.reverse_related", "FederatedRel"),
    },
    "django.contrib.contenttypes.models": {
        "ContentType": ("federated_relations.models", "GenericContentType"),
        "ContentTypeManager": ("federated_relations.models", "GenericContentTypeManager"),
    },
    "django.contrib.contenttypes.prefetch": {
        "GenericPrefetch": ("federated_relations.prefetch", "FederatedPrefetch"),
    },
    "django.contrib.contenttypes.forms": {
        "generic_inlineformset_factory": (
            "federated_relations.forms", "federated_inlineformset_factory"
        ),
        "BaseGenericInlineFormSet": ("federated_relations.forms", "BaseFederatedInlineFormSet"),
    },
    "django.contrib.contenttypes.admin": {
        "GenericInlineModelAdmin": ("federated_relations.admin", "FederatedInlineModelAdmin"),
        "GenericInlineModelAdminChecks": (
            "federated_relations.admin", "FederatedInlineModelAdminChecks"
        ),
        "GenericStackedInline": ("federated_relations.admin", "FederatedStackedInline"),
        "GenericTabularInline": ("federated_relations.admin", "FederatedTabularInline"),
    },
}
#: Django's names in strings of the test modules -> ours (regular expressions): model
#: references, and messages that name the class (``<ContentType: ...>`` from a
#: ``ForeignKey``'s error, the class of the reverse manager). Check ids and check messages
#: are not mapped: those tests are expected differences.
STRING_MAP = [
    (r"""(["'])contenttypes\.ContentType\1""", r"\1federated_relations.GenericContentType\1"),
    (r"<ContentType: ", "<GenericContentType: "),
    (r"""(ForeignKey to (?:["']\s*["'])?)ContentType\b""", r"\1GenericContentType"),
    (r"GenericRelatedObjectManager", "FederatedRelatedObjectManager"),
]
#: Files (relative to tests/) where ``ContentType`` stays Django's, because it is used
#: there for permissions and the admin's "view on site" (``ContentType``'s own business);
#: only its uses as the type of a generic foreign key become ``GenericContentType``:
#: ``content_type=ContentType.objects...`` and the ones listed by file.
KEEP_CONTENT_TYPE = {
    "admin_views/tests.py": [],
    "generic_inline_admin/tests.py": [
        # contact_type is the type of Contact's permissions, and of a PhoneNumber's target.
        ("content_type=self.contact_type,",
         "content_type=_FederatedGenericContentType.objects.get_for_model(Contact),"),
    ],
}
_GENERIC_TYPE_USE = re.compile(r"\bcontent_type=ContentType\.objects\b")
_OUR_TYPE_ALIAS = "_FederatedGenericContentType"

MAPPED_NAMES = {name for names in NAME_MAP.values() for name in names}


def log(message: str) -> None:
    print(f"conformance: {message}", file=sys.stderr, flush=True)


# --- Django's tests ------------------------------------------------------------------------


def django_tests(version: str, cache: Path, workdir: Path) -> Path:
    """Return the ``tests/`` directory of Django ``version``'s sdist, extracted in ``workdir``."""
    cache.mkdir(parents=True, exist_ok=True)
    sdists = sorted(cache.glob(f"[dD]jango-{version}.tar.gz"))
    if not sdists:
        log(f"downloading the sdist of Django {version} into {cache}")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--no-binary", ":all:", "--dest", str(cache), f"django=={version}"],
            check=True,
        )
        sdists = sorted(cache.glob(f"[dD]jango-{version}.tar.gz"))
    if not sdists:
        raise SystemExit(f"conformance: no sdist of Django {version} in {cache}")
    with tarfile.open(sdists[0]) as archive:
        members = [m for m in archive.getmembers() if m.name.split("/")[1:2] == ["tests"]]
        archive.extractall(workdir, members=members, filter="data")
    return workdir / f"{sdists[0].name.removesuffix('.tar.gz')}" / "tests"


def install_federated_relations(tests: Path, silenced: list[str]) -> None:
    """Add ``federated_relations`` to runtests.py's apps and write the settings module."""
    runtests = tests / "runtests.py"
    source = runtests.read_text()
    # runtests.py sets INSTALLED_APPS and SILENCED_SYSTEM_CHECKS itself: extend its lists.
    for anchor, added in [
        ('    "django.contrib.contenttypes",\n', ['"federated_relations"']),
        ('    settings.SILENCED_SYSTEM_CHECKS = [\n', [repr(c) for c in silenced]),
    ]:
        if source.count(anchor) != 1:
            raise SystemExit(f"conformance: {anchor.strip()!r} not found in runtests.py")
        source = source.replace(anchor, anchor + "".join(f"    {a},\n" for a in added))
    runtests.write_text(source)
    (tests / "conformance_settings.py").write_text(
        "from test_sqlite import *  # noqa: F403\n\n"
        f"FEDERATION = {{'PROJECT_NAME': {PROJECT_NAME!r}}}\n"
    )


# --- rewriting ------------------------------------------------------------------------------


def rewrite_source(source: str, keep_content_type: list[tuple[str, str]] | None) -> str:
    """Return ``source`` with Django's generic-relation names imported from ours."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.module not in NAME_MAP:
            continue
        mapping = dict(NAME_MAP[node.module])
        if keep_content_type is not None:
            mapping.pop("ContentType", None)
        kept, ours = [], []
        for alias in node.names:
            local = alias.asname or alias.name
            if alias.name in mapping:
                module, name = mapping[alias.name]
                ours.append(f"from {module} import {name} as {local}")
            else:
                kept.append(alias.name if alias.asname is None else f"{alias.name} as {local}")
        if not ours:
            continue
        if kept:
            ours.insert(0, f"from {node.module} import {', '.join(kept)}")
        indent = " " * node.col_offset
        edits.append((node.lineno, node.end_lineno, "".join(f"{indent}{s}\n" for s in ours)))
    for start, end, text in sorted(edits, reverse=True):
        lines[start - 1 : end] = [text]
    result = "".join(lines)
    if keep_content_type is not None:
        result = _GENERIC_TYPE_USE.sub(f"content_type={_OUR_TYPE_ALIAS}.objects", result)
        for old, new in keep_content_type:
            if old not in result:
                raise SystemExit(f"conformance: {old!r} not found; update KEEP_CONTENT_TYPE")
            result = result.replace(old, new)
        if _OUR_TYPE_ALIAS in result:
            result = (
                f"from federated_relations.models import GenericContentType as {_OUR_TYPE_ALIAS}\n"
                + result
            )
    for pattern, replacement in STRING_MAP:
        result = re.sub(pattern, replacement, result)
    return result


def rewrite_app(tests: Path, app: str, labels: list[str]) -> None:
    """Rewrite the models, admin and other support modules of a test app, and the test
    modules that ``labels`` run (other test modules are left as Django wrote them)."""
    run_modules = {"/".join(_module_parts(tests, label)) for label in labels}
    for path in sorted((tests / app).rglob("*.py")):
        relative = path.relative_to(tests).as_posix()
        is_test = path.name.startswith("test")
        if is_test and relative.removesuffix(".py") not in run_modules:
            continue
        source = path.read_text()
        new = rewrite_source(source, keep_content_type=KEEP_CONTENT_TYPE.get(relative))
        if new != source:
            path.write_text(new)


def _module_parts(tests: Path, label: str) -> list[str]:
    """Return the path parts of the module of ``label`` (which may name a class, a test)."""
    parts = label.split(".")
    for end in range(len(parts), 0, -1):
        if (tests / Path(*parts[:end])).with_suffix(".py").exists():
            return parts[:end]
    return parts


# --- selection ------------------------------------------------------------------------------


def generic_fields(app_dir: Path) -> set[str]:
    """Return the names of the GenericForeignKey and GenericRelation fields of an app."""
    fields = set()
    sources = [app_dir / "models.py", *sorted((app_dir / "models").glob("*.py"))]
    for path in sources:
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
                continue
            func = node.value.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if called == "GenericForeignKey" or called.endswith("GenericRelation"):
                fields.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return fields


def _mentions(node: ast.AST, names: set[str], fields: set[str]) -> bool:
    """Whether ``node`` uses one of ``names`` or one of the generic ``fields``."""
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and child.id in names:
            return True
        if isinstance(child, ast.Attribute) and (child.attr in names or child.attr in fields):
            return True
        if isinstance(child, ast.keyword) and child.arg and child.arg.split("__")[0] in fields:
            return True
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            if child.value.lstrip("-").split("__")[0] in fields:
                return True
    return False


def _is_test_class(node: ast.AST) -> bool:
    return isinstance(node, ast.ClassDef) and any(
        isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test")
        for item in node.body
    )


def select_generic_tests(tests: Path, app: str, module: str, extra: set[str]) -> list[str]:
    """Return the labels of the test methods of ``app.module`` that use generic relations."""
    path = tests / app / f"{module.replace('.', '/')}.py"
    if not path.exists():
        return []
    fields = generic_fields(tests / app)
    names = MAPPED_NAMES | extra
    if path.relative_to(tests).as_posix() in KEEP_CONTENT_TYPE:
        names.discard("ContentType")  # Django's own there: not a generic relation
    tree = ast.parse(path.read_text())
    # Module-level helpers (admin classes, functions...) that use a generic relation make
    # the tests using them generic too.
    helpers = [
        node for node in tree.body
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and not _is_test_class(node)
    ]
    changed = True
    while changed:
        changed = False
        for node in helpers:
            if node.name not in names and _mentions(node, names, fields):
                names.add(node.name)
                changed = True
    labels = []
    for node in tree.body:
        if not _is_test_class(node):
            continue
        for item in node.body:
            if (
                isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                and item.name.startswith("test")
                and _mentions(item, names, fields)
            ):
                labels.append(f"{app}.{module}.{node.name}.{item.name}")
    return labels


def labels_of(tests: Path, apps: list[str]) -> dict[str, list[str]]:
    """Return ``{app: [runtests labels]}``."""
    result = {}
    for app in apps:
        whole, filtered, extra = APPS[app]
        labels = [f"{app}.{module}" for module in whole]
        for module in filtered:
            labels += select_generic_tests(tests, app, module, extra)
        result[app] = labels
    return result


# --- running and reporting --------------------------------------------------------------------

_RESULT = re.compile(
    r"^(?P<method>\w+) \((?P<id>[\w.]+)\)(?: \[[^\n]*\])?(?:\n(?!\w+ \([\w.]+\))[^\n]*)?"
    r" \.\.\. (?P<status>ok|FAIL|ERROR|skipped|expected failure|unexpected success)",
    re.MULTILINE,
)
_SUMMARY = re.compile(
    r"^(?P<status>FAIL|ERROR|UNEXPECTED SUCCESS): (?P<method>\w+) \((?P<id>[\w.]+)\)",
    re.MULTILINE,
)


_RAN = re.compile(r"^Ran (\d+) tests? in ", re.MULTILINE)
_VERDICT = re.compile(r"^(?:OK|FAILED)\b", re.MULTILINE)


def parse_results(output: str) -> dict[str, str]:
    """Return ``{test id: "passed" | "failed" | "skipped"}`` from runtests' -v 2 output."""
    results: dict[str, str] = {}
    for match in _RESULT.finditer(output):
        status = match["status"]
        outcome = "passed" if status in ("ok", "expected failure") else (
            "skipped" if status == "skipped" else "failed"
        )
        if results.get(match["id"]) != "failed":
            results[match["id"]] = outcome
    for match in _SUMMARY.finditer(output):
        results[match["id"]] = "failed"
    return results


def run_problems(
    output: str,
    returncode: int,
    results: dict[str, str],
    expected: dict[str, str],
    labels: dict[str, list[str]],
) -> list[str]:
    """Return why this run of ``runtests.py`` proves nothing (nothing when it is complete).

    ``runtests.py`` exits 1 for the expected differences too, so its status alone cannot
    tell a crash from a normal run: a run is complete when it printed ``Ran N tests`` for
    exactly the tests read and its verdict after that, and every app had tests that passed.
    """
    problems = []
    ran = list(_RAN.finditer(output))
    if not ran:
        problems.append("runtests printed no 'Ran N tests' line: it stopped before the end")
    else:
        if int(ran[-1][1]) != len(results):
            problems.append(
                f"runtests ran {ran[-1][1]} tests but {len(results)} results were read"
            )
        if not _VERDICT.search(output, ran[-1].end()):
            problems.append("runtests printed no OK/FAILED verdict after 'Ran N tests'")
    if returncode and not any(outcome == "failed" for outcome in results.values()):
        problems.append(f"runtests exited with {returncode} but no test failed")
    for app, app_labels in labels.items():
        if not app_labels:
            problems.append(f"{app}: no test was selected")
        elif not any(
            app_of(test_id) == app
            and (outcome == "passed" or (outcome == "failed" and test_id in expected))
            for test_id, outcome in results.items()
        ):
            problems.append(f"{app}: no test passed")
    return problems


def read_expected() -> tuple[dict[str, str], dict[str, str]]:
    """Return ``({test id: reason}, {silenced check id: reason})`` of the expected file.

    A line is ``<test id> <reason>``, or ``silence <check id> <reason>`` for a check of
    ours that ``manage.py check`` (run by ``runtests.py`` before the tests) must ignore.
    """
    tests, checks = {}, {}
    for number, line in enumerate(EXPECTED_FILE.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        target = tests
        if line.startswith("silence "):
            target, line = checks, line.removeprefix("silence ").strip()
        key, _sep, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{EXPECTED_FILE.name}:{number}: an id and a reason expected")
        target[key] = reason.strip()
    return tests, checks


def app_of(test_id: str) -> str:
    return test_id.split(".")[0]


def report(results: dict[str, str], expected: dict[str, str], apps: list[str]) -> int:
    """Print the table and the problems; return the exit status."""
    counts: dict[str, Counter] = defaultdict(Counter)
    unexpected_failures, unexpected_passes = [], []
    for test_id, outcome in sorted(results.items()):
        app = app_of(test_id)
        if outcome == "failed" and test_id in expected:
            counts[app]["expected"] += 1
        elif outcome == "failed":
            counts[app]["failed"] += 1
            unexpected_failures.append(test_id)
        elif outcome == "passed" and test_id in expected:
            counts[app]["passed"] += 1
            unexpected_passes.append(test_id)
        else:
            counts[app][outcome] += 1
    width = max(len(app) for app in [*apps, *counts, "total"])
    header = f"{'test app':<{width}}  passed  failed  expected  skipped"
    print("\n" + header + "\n" + "-" * len(header))
    total: Counter = Counter()
    for app in sorted(set(apps) | set(counts)):
        c = counts[app]
        total.update(c)
        print(f"{app:<{width}}  {c['passed']:>6}  {c['failed']:>6}  {c['expected']:>8}  "
              f"{c['skipped']:>7}")
    print("-" * len(header))
    print(f"{'total':<{width}}  {total['passed']:>6}  {total['failed']:>6}  "
          f"{total['expected']:>8}  {total['skipped']:>7}")
    status = 0
    if unexpected_failures:
        print("\nunexpected failures:")
        print("".join(f"    {t}\n" for t in unexpected_failures), end="")
        status = 1
    if unexpected_passes:
        print(f"\nexpected differences that passed (remove them from {EXPECTED_FILE.name}):")
        print("".join(f"    {t}\n" for t in unexpected_passes), end="")
        status = 1
    not_run = sorted(t for t in expected if app_of(t) in apps and t not in results)
    if not_run:
        print("\nexpected differences that did not run (other Django version?):")
        print("".join(f"    {t}\n" for t in not_run), end="")
    if not results:
        print("\nno test ran")
        status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("apps", nargs="*", help="test apps to run (default: all)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show runtests' output")
    parser.add_argument("--keep", action="store_true", help="keep the rewritten tests")
    parser.add_argument("--list", action="store_true", help="print the labels and stop")
    args = parser.parse_args(argv)
    apps = args.apps or list(APPS)
    unknown = sorted(set(apps) - set(APPS))
    if unknown:
        parser.error(f"unknown test apps: {', '.join(unknown)}")

    import django

    version = django.get_version()
    cache = Path(os.environ.get("FR_CONFORMANCE_CACHE")
                 or Path(tempfile.gettempdir()) / "federated_relations_conformance")
    workdir = Path(tempfile.mkdtemp(prefix="fr-conformance-"))
    try:
        tests = django_tests(version, cache, workdir)
        expected, silenced = read_expected()
        install_federated_relations(tests, list(silenced))
        labels = labels_of(tests, apps)
        for app in apps:
            rewrite_app(tests, app, labels[app])
        if args.list:
            print("\n".join(label for app in apps for label in labels[app]))
            return 0
        flat = [label for app in apps for label in labels[app]]
        log(f"Django {version}: {len(flat)} labels in {len(apps)} test apps")
        if not flat:
            # runtests.py without labels would run Django's entire test suite.
            print("no test selected: nothing to run", file=sys.stderr)
            return 1
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        ))
        env.pop("DJANGO_SETTINGS_MODULE", None)
        process = subprocess.run(
            [sys.executable, "runtests.py", "--settings=conformance_settings", "--parallel=1",
             "--noinput", "-v", "2", *flat],
            cwd=tests, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        if args.verbose:
            print(process.stdout)
        (workdir / "runtests.log").write_text(process.stdout)
        results = parse_results(process.stdout)
        status = report(results, expected, apps)
        problems = run_problems(process.stdout, process.returncode, results, expected, labels)
        if problems:
            print("\nthe run is incomplete:")
            print("".join(f"    {problem}\n" for problem in problems), end="")
            status = 1
        if status:
            tail = "\n".join(process.stdout.splitlines()[-40:])
            if not args.verbose:
                print(f"\nlast lines of runtests' output:\n{tail}")
            return 1
        return status
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
