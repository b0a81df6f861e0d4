"""Importing an integration without its framework names the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The probe hides the framework the way an environment without it looks to Python: a
# None entry in sys.modules makes every import of that package fail.
PROBE = """
import sys
for name in sys.argv[2:]:
    sys.modules[name] = None
try:
    __import__(sys.argv[1])
except ImportError as exc:
    print(type(exc).__name__, exc.name, str(exc), type(exc.__cause__).__name__, sep="|")
else:
    print("imported")
"""


@pytest.mark.parametrize(
    ("module", "hidden", "framework", "extra"),
    [
        ("fastapi", ["fastapi"], "FastAPI", "fastapi"),
        ("fastapi", ["starlette"], "FastAPI", "fastapi"),
        ("starlette", ["starlette"], "Starlette", "starlette"),
        ("flask", ["flask"], "Flask", "flask"),
        ("flask", ["werkzeug"], "Flask", "flask"),
        ("django", ["django"], "Django REST framework", "django"),
        ("django", ["rest_framework"], "Django REST framework", "django"),
        ("prometheus", ["prometheus_client"], "prometheus-client", "prometheus"),
        ("opentelemetry", ["opentelemetry"], "the OpenTelemetry API", "opentelemetry"),
    ],
)
def test_missing_framework_names_the_extra(
    module: str, hidden: list[str], framework: str, extra: str
) -> None:
    """The ImportError names the module, the framework and `pip install 'jwks-client[extra]'`."""
    name = f"jwks_client.integrations.{module}"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, name, *hidden],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    kind, error_name, message, cause = result.stdout.strip().split("|")
    assert kind == "ImportError"
    assert message.endswith(f"pip install 'jwks-client[{extra}]'")
    assert f"needs {framework}" in message
    assert cause == "ModuleNotFoundError"
    assert error_name == name


def test_installed_frameworks_import() -> None:
    """With every framework installed, the probe imports the integrations."""
    for module in ("fastapi", "starlette", "flask", "django", "prometheus", "opentelemetry"):
        result = subprocess.run(
            [sys.executable, "-c", PROBE, f"jwks_client.integrations.{module}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert result.stdout.strip() == "imported", module
