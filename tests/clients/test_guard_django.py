"""The Django guard in a real Django app (settings configured in-process) and in DRF, against the real service."""

from __future__ import annotations

import client_helpers
import django
import pytest
from client_helpers import ADULT, DOWN_CASES, GUARD_CASES, SAFE, nowhere
from django.conf import settings

if not settings.configured:
    settings.configure(
        SECRET_KEY="tests only",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
        DATABASES={},
        MIDDLEWARE=[],
        REST_FRAMEWORK={"UNAUTHENTICATED_USER": None},
    )
    django.setup()

from django import forms  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.db import models  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework import serializers  # noqa: E402
from rest_framework.decorators import api_view  # noqa: E402
from rest_framework.response import Response  # noqa: E402

from nsfw_client.django import NsfwValidator, validate_upload  # noqa: E402

pytestmark = pytest.mark.slow
service = client_helpers.service


class UploadForm(forms.Form):
    image = forms.FileField(validators=[NsfwValidator(unknown="refuse")])


class UploadSerializer(serializers.Serializer):
    image = serializers.FileField(validators=[NsfwValidator()])


def form_view(request: HttpRequest) -> JsonResponse:
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    upload = form.cleaned_data["image"]
    return JsonResponse({"bytes": len(upload.read()), "code": upload.nsfw_decision.code})


@api_view(["POST"])
def drf_view(request) -> Response:
    serializer = UploadSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return Response({"bytes": len(serializer.validated_data["image"].read())})


@api_view(["POST"])
def drf_helper_view(request) -> Response:
    decision = validate_upload(request.FILES["image"], unknown="refuse")
    return Response({"bytes": len(request.FILES["image"].read()), "code": decision.code})


urlpatterns = [path("form", form_view), path("drf", drf_view), path("drf-helper", drf_helper_view)]


@pytest.fixture
def nsfw_service(service: str):
    with override_settings(NSFW_CLIENT={"base_url": service}):
        yield service


def upload(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("upload.png", data, content_type="image/png")


@pytest.mark.parametrize(("data", "unknown", "allowed", "flagged", "code"), GUARD_CASES)
def test_django_form_field_validator(nsfw_service, data: bytes, unknown, allowed: bool, flagged: bool, code) -> None:
    class Form(forms.Form):
        image = forms.FileField(validators=[NsfwValidator(unknown=unknown)])

    file = upload(data)
    form = Form(files={"image": file})
    assert form.is_valid() is allowed
    if allowed:
        decision = form.cleaned_data["image"].nsfw_decision
        assert (decision.code, decision.flagged) == (code, flagged)
        assert form.cleaned_data["image"].read() == data  # rewound
    else:
        assert [e.code for e in form.errors.as_data()["image"]] == [code]


def test_django_view_with_the_form_refuses_an_adult_upload(nsfw_service) -> None:
    client = DjangoClient()
    refused = client.post("/form", {"image": upload(ADULT.read_bytes())})
    assert refused.status_code == 400
    assert refused.json()["errors"]["image"][0]["code"] == "nsfw_adult"
    accepted = client.post("/form", {"image": upload(SAFE.read_bytes())})
    assert accepted.json() == {"bytes": SAFE.stat().st_size, "code": "nsfw_safe"}


def test_django_model_field_validator_and_migrations(nsfw_service) -> None:
    field = models.FileField(validators=[NsfwValidator(unknown="refuse", fail="open")])
    with pytest.raises(django.core.exceptions.ValidationError) as caught:
        field.run_validators(upload(ADULT.read_bytes()))
    assert caught.value.error_list[0].code == "nsfw_adult"
    field.run_validators(upload(SAFE.read_bytes()))
    # the migration writer serialises the validator from its arguments: no client, no key
    name, args, kwargs = NsfwValidator(unknown="refuse", fail="open").deconstruct()
    assert (name, args, kwargs) == ("nsfw_client.django.NsfwValidator", (), {"unknown": "refuse", "fail": "open"})
    assert NsfwValidator(unknown="refuse", fail="open") == NsfwValidator(**kwargs)


def test_drf_serializer_field_and_helper(nsfw_service) -> None:
    client = DjangoClient()
    refused = client.post("/drf", {"image": upload(ADULT.read_bytes())})
    assert refused.status_code == 400 and "adult content" in refused.json()["image"][0]
    assert client.post("/drf", {"image": upload(SAFE.read_bytes())}).json() == {"bytes": SAFE.stat().st_size}
    helper = client.post("/drf-helper", {"image": upload(ADULT.read_bytes())})
    assert helper.status_code == 400 and "adult content" in helper.json()[0]
    ok = client.post("/drf-helper", {"image": upload(SAFE.read_bytes())})
    assert ok.json() == {"bytes": SAFE.stat().st_size, "code": "nsfw_safe"}


def test_drf_error_codes_are_the_decisions(nsfw_service) -> None:
    serializer = UploadSerializer(data={"image": upload(ADULT.read_bytes())})
    assert not serializer.is_valid()
    assert serializer.errors["image"][0].code == "nsfw_adult"


@pytest.mark.parametrize(("fail", "allowed", "flagged"), DOWN_CASES)
def test_django_guard_when_the_service_is_down(fail, allowed: bool, flagged: bool) -> None:
    class Form(forms.Form):
        image = forms.FileField(validators=[NsfwValidator(fail=fail)])

    with override_settings(NSFW_CLIENT={"base_url": nowhere(), "retries": 0}):
        form = Form(files={"image": upload(SAFE.read_bytes())})
        assert form.is_valid() is allowed
    if allowed:
        assert form.cleaned_data["image"].nsfw_decision.flagged is flagged
    else:
        assert [e.code for e in form.errors.as_data()["image"]] == ["nsfw_unchecked"]


def test_a_misspelt_policy_fails_where_it_is_declared() -> None:
    with pytest.raises(ValueError, match="unknown="):
        NsfwValidator(unknown="ignore")  # type: ignore[arg-type]
