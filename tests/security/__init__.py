"""The security suite: adversarial tokens, hostile key sets and property-based fuzzing.

The properties of ``test_fuzz.py`` take their Hypothesis settings from the profile that
the ``HYPOTHESIS_PROFILE`` environment variable names:

* ``ci`` (the default): 150 examples per property, a few seconds in all;
* ``long``: 20,000 examples per property, for a local run of several minutes.

They are registered as ``jwks-security-ci`` and ``jwks-security-long`` and applied to
those properties only, so choosing one never changes the rest of the test suite (nor
replaces Hypothesis's built-in ``ci`` profile). Inputs are bounded in size; deadlines
are off, since timing on a shared machine proves nothing.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["FUZZ_PROFILE", "PROFILES", "fuzz_settings"]

#: Names accepted in ``HYPOTHESIS_PROFILE`` and the Hypothesis profile each selects.
PROFILES = {"ci": "jwks-security-ci", "long": "jwks-security-long"}

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("jwks-security-ci", max_examples=150, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("jwks-security-long", max_examples=20_000, **_COMMON)  # type: ignore[arg-type]

#: The profile in force for this run (an unknown name falls back to ``ci``).
FUZZ_PROFILE = PROFILES.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), PROFILES["ci"])


def fuzz_settings() -> settings:
    """The Hypothesis settings of the fuzzing properties for this run."""
    return settings(settings.get_profile(FUZZ_PROFILE))
