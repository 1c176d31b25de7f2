"""requirements.txt is the app's (what a server installs), requirements-test.txt adds the
tests' tools; both pinned exactly, and the app imports nothing that only the tests install."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINNED = re.compile(r"^[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*$")


def packages(name):
    lines = [line.strip() for line in (ROOT / name).read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_both_files_pin_every_package_exactly_and_the_tests_include_the_app():
    runtime, test = packages("requirements.txt"), packages("requirements-test.txt")
    assert test[0] == "-r requirements.txt"
    for line in runtime + test[1:]:
        assert PINNED.match(line), line


def test_the_app_imports_nothing_only_the_tests_install():
    modules = {line.split("==")[0].lower().replace("-", "_")
               for line in packages("requirements-test.txt")[1:]}
    for path in (ROOT / "karusaku").rglob("*.py"):
        for module in modules:
            assert not re.search(rf"^\s*(import|from) {module}\b", path.read_text(), re.M), \
                f"{path.relative_to(ROOT)} imports {module}"
