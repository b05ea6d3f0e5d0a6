"""What ``audit`` and ``compare`` set up around scenarios, the way test settings do.

* :func:`scenario_environment` — Django's test environment (``testserver``
  allowed, in-memory e-mail) plus a fast password hasher: a set-up that
  creates twenty users with PBKDF2 spends seconds hashing passwords, which
  measures nothing about the views (test settings usually do the same). The
  hasher is the only setting changed; the user's settings file is untouched.
* :func:`find_user` — the user a ``Request(user=...)`` logs in as, looked up
  by its ``username`` field when the user model has one (whatever its
  ``USERNAME_FIELD``, e.g. an e-mail), else by ``USERNAME_FIELD``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

__all__ = ["FAST_PASSWORD_HASHERS", "find_user", "scenario_environment"]

#: The hasher audit and compare use: fast, and never used for real passwords.
FAST_PASSWORD_HASHERS: Final = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@contextlib.contextmanager
def scenario_environment() -> Iterator[None]:
    """Django's test environment and a fast password hasher, undone on exit."""
    from django.test.utils import (
        override_settings,
        setup_test_environment,
        teardown_test_environment,
    )

    try:
        setup_test_environment()
    except RuntimeError:  # already set up: we run inside a test
        with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
            yield
        return
    try:
        with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
            yield
    finally:
        teardown_test_environment()


def find_user(username: str) -> Any:
    """The user named ``username`` (an instance of the user model), or ``None``
    when the set-up created none."""
    from django.contrib.auth import get_user_model

    model: Any = get_user_model()
    names = {field.name for field in model._meta.get_fields()}
    lookup = "username" if "username" in names else model.USERNAME_FIELD
    return model._default_manager.filter(**{lookup: username}).first()
