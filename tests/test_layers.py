"""The import contracts of pyproject.toml (`[tool.importlinter]`) hold, and they can fail.

The second half runs the very same contracts against small throwaway package trees, named like
the real ones, each holding one deliberate violation: a contract that could never fail (a
misspelt module, a chain it does not follow) would otherwise pass here unnoticed.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINT_IMPORTS = pathlib.Path(sys.executable).with_name("lint-imports")

#: Every module a contract names, so that the throwaway trees give no "module not found" error.
PACKAGES = [
    "crmApp",
    "crmApp.viewsets",
    "crmApp.serializers",
    "crmApp.filters",
    "crmApp.services",
    "crmApp.selectors",
    "crmApp.models",
    "crmApp.permissions",
    "crmAdmin",
    "crmBench",
]
MODULES = ["crmApp.urls", "crmApp.pagination", "crmApp.exceptions"]

#: What every tree holds besides its violation: a legal import down each layer, and the auth
#: service's token library, which is not the HTTP layer and must not count as `rest_framework`.
LEGAL = {
    "crmApp.urls": "import crmApp.viewsets\n",
    "crmApp.viewsets": "import rest_framework.views\nimport crmApp.serializers\n",
    "crmApp.serializers": "import rest_framework.serializers\nimport crmApp.selectors\n",
    "crmApp.services": "import rest_framework_simplejwt.tokens\nimport crmApp.selectors\n",
    "crmApp.selectors": "import crmApp.models\n",
    "crmApp.permissions": "import rest_framework.permissions\nimport crmApp.models\n",
}


def run_lint_imports(*args, cwd, env=None):
    # --no-cache: grimp's cache would otherwise be written into the working directory.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write_tree(root, extra):
    """The throwaway packages under `root`: `LEGAL`'s imports plus `extra`'s, by module."""
    sources = dict.fromkeys(PACKAGES + MODULES, "")
    for source in (LEGAL, extra):
        for name, text in source.items():
            sources[name] += text
    for name, text in sources.items():
        parts = name.split(".")
        if name in PACKAGES:
            path = root.joinpath(*parts, "__init__.py")
        else:
            path = root.joinpath(*parts[:-1], f"{parts[-1]}.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def lint_tree(tmp_path, extra):
    tree = tmp_path / "tree"
    write_tree(tree, extra)
    # Only the throwaway tree is importable under these names: the project root is not on the
    # path (the working directory is the tree, and PYTHONPATH names nothing else).
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return run_lint_imports("--config", str(ROOT / "pyproject.toml"), cwd=tree, env=env)


def test_the_project_keeps_its_import_contracts():
    result = run_lint_imports(cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_tree_with_only_legal_imports_passes(tmp_path):
    # The baseline of every case below; it also shows the auth service's token library passing.
    result = lint_tree(tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("extra", "broken"),
    [
        pytest.param(
            {"crmApp.services": "import rest_framework.response\n"},
            "Services and selectors know nothing of HTTP",
            id="service-imports-drf",
        ),
        pytest.param(
            # Indirect: the permissions package holds DRF classes.
            {"crmApp.selectors": "import crmApp.permissions\n"},
            "Services and selectors know nothing of HTTP",
            id="selector-reaches-drf-through-permissions",
        ),
        pytest.param(
            {"crmApp.services": "import crmApp.pagination\n"},
            "Services and selectors know nothing of HTTP",
            id="service-imports-pagination",
        ),
        pytest.param(
            {"crmApp.serializers": "import crmApp.services\n"},
            "Serializers and filters never write (no services)",
            id="serializer-imports-service",
        ),
        pytest.param(
            {"crmApp.selectors": "import crmApp.services\n"},
            "HTTP layer > serializers and filters > services > selectors > models",
            id="selector-imports-service",
        ),
        pytest.param(
            {"crmApp.models": "import crmApp.permissions\n"},
            "Models import nothing above them",
            id="model-imports-permissions",
        ),
        pytest.param(
            {"crmApp.permissions": "import crmApp.serializers\n"},
            "Permissions never import viewsets, serializers or services",
            id="permissions-import-serializers",
        ),
    ],
)
def test_each_contract_bites(tmp_path, extra, broken):
    result = lint_tree(tmp_path, extra)
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"{broken} BROKEN" in result.stdout, result.stdout + result.stderr
