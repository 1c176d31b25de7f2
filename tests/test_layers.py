"""The lint step's import contracts (.importlinter): they hold for the code as it is, and an
import against the layers, a cycle, or a module placed in no layer breaks them."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def lint_imports(tree):
    return subprocess.run([LINT_IMPORTS, "--no-cache", "--config", ROOT / ".importlinter"],
                          cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def copy(tmp_path):
    shutil.copytree(ROOT / "karusaku", tmp_path / "karusaku",
                    ignore=shutil.ignore_patterns("static", "templates", "__pycache__"))
    return tmp_path


def add_line(path, line):
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_code_keeps_its_contracts():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


def test_a_model_importing_a_domain_module_breaks_the_layers_and_makes_a_cycle(copy):
    add_line(copy / "karusaku" / "models" / "clinic.py", "from .. import accounts  # noqa")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "karusaku.models is not allowed to import karusaku.accounts" in result.stdout
    assert "No import cycle between the modules of a package BROKEN" in result.stdout


def test_the_data_layer_may_not_reach_up_into_the_web_plumbing(copy):
    add_line(copy / "karusaku" / "db" / "tenancy.py", "from ..web import htmx  # noqa")
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "karusaku.db is not allowed to import karusaku.web" in result.stdout


def test_a_module_in_no_layer_breaks_the_contract(copy):
    (copy / "karusaku" / "newthing.py").write_text('"""Not placed in any layer."""\n')
    result = lint_imports(copy)
    assert result.returncode == 1
    assert "newthing" in result.stdout
