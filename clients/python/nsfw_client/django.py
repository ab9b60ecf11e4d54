"""Django upload guard: a validator for form and model file fields, and a helper for DRF.

    avatar = forms.ImageField(validators=[NsfwValidator(unknown="refuse")])        # a form
    avatar = models.ImageField(validators=[NsfwValidator()])                       # a model
    avatar = serializers.ImageField(validators=[NsfwValidator()])                  # DRF: the same

A refusal is Django's ``ValidationError`` (``code`` the decision's: ``nsfw_adult``...), which
forms, model forms and DRF serializers report as a field error. A flagged upload carries
``nsfw_decision`` (the :class:`~nsfw_client.guard.Decision`). The service is found through the
``NSFW_CLIENT`` setting (``{"base_url": ..., "api_key": ..., "timeout": ...}``), so nothing secret
ends up in migrations; a form may pass ``guard=`` instead.
"""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.core.exceptions import ValidationError  # type: ignore[import-untyped]
from django.utils.deconstruct import deconstructible  # type: ignore[import-untyped]

from nsfw_client.client import Client
from nsfw_client.guard import Decision, FailMode, Guard, UnknownPolicy, check_policies


@deconstructible
class NsfwValidator:
    """Refuses an adult upload (and ``unknown`` ones when ``unknown="refuse"``); rewinds the file."""

    def __init__(self, unknown: UnknownPolicy = "flag", fail: FailMode = "closed", *, guard: Guard | None = None):
        self.unknown, self.fail, self.guard = unknown, fail, guard
        check_policies(unknown, fail)

    def __call__(self, value: Any) -> None:
        decision = check(value, self.guard or Guard(client(), unknown=self.unknown, fail=self.fail))
        if not decision.allowed:
            raise ValidationError(decision.message, code=decision.code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NsfwValidator) and (other.unknown, other.fail) == (self.unknown, self.fail)

    def __hash__(self) -> int:
        return hash((self.unknown, self.fail))


def validate_upload(value: Any, unknown: UnknownPolicy = "flag", fail: FailMode = "closed") -> Decision:
    """For DRF code outside a field's validators (``validate_<field>``, a view): raises DRF's ValidationError."""
    from rest_framework.exceptions import ValidationError as DRFValidationError  # type: ignore[import-untyped]

    decision = check(value, Guard(client(), unknown=unknown, fail=fail))
    if not decision.allowed:
        raise DRFValidationError(decision.message, code=decision.code)
    return decision


def check(value: Any, guard: Guard) -> Decision:
    """Classify an UploadedFile (or a model's FieldFile) and put it back where it was."""
    file = getattr(value, "file", None) or value
    start = file.tell()
    try:
        decision = guard.check(file)
    finally:
        file.seek(start)
    value.nsfw_decision = decision
    return decision


def client() -> Client:
    """The one Client the NSFW_CLIENT setting describes (made once per process and setting)."""
    options = getattr(settings, "NSFW_CLIENT", {})
    return _client(tuple(sorted(options.items())))


@functools.lru_cache(maxsize=4)
def _client(options: tuple[tuple[str, Any], ...]) -> Client:
    return Client(**dict(options))
