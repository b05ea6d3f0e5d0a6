"""The detector corpus: two foreign keys to the same model.

`Recommendation.from_reader` and `Recommendation.to_reader` both point at
`Reader`: their per-row loads run the same SQL (`SELECT ... FROM
testapp_reader WHERE id = ?`). The relation is told from the attribute the
call site loads (its bytecode) or, under DRF, from the field being rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework import serializers

import perfaudit
from perfaudit.capture import Recording
from perfaudit.detect import Finding, run
from tests.corpus_data import make_library, make_recommendations
from tests.testapp.models import Reader, Recommendation

pytestmark = pytest.mark.django_db


@pytest.fixture
def recommendations() -> None:
    make_recommendations(make_library())


def _record(action: Callable[[], Any]) -> tuple[Recording, Any]:
    with perfaudit.record() as rec:
        result = action()
    return rec, result


def _only_n_plus_one(findings: list[Finding]) -> Finding:
    (finding,) = [f for f in findings if f.kind == "n_plus_one"]
    return finding


def recipients() -> list[int]:
    return [r.to_reader.user_id for r in Recommendation.objects.order_by("id")]


def recipients_fixed() -> list[int]:
    queryset = Recommendation.objects.order_by("id").select_related("to_reader")
    return [r.to_reader.user_id for r in queryset]


def senders() -> list[int]:
    return [r.from_reader.user_id for r in Recommendation.objects.order_by("id")]


def senders_fixed() -> list[int]:
    queryset = Recommendation.objects.order_by("id").select_related("from_reader")
    return [r.from_reader.user_id for r in queryset]


@pytest.mark.parametrize(
    ("loop", "fixed", "relation"),
    [
        (recipients, recipients_fixed, "Recommendation.to_reader"),
        (senders, senders_fixed, "Recommendation.from_reader"),
    ],
)
@pytest.mark.usefixtures("recommendations")
def test_the_foreign_key_a_loop_reads_is_named(
    loop: Callable[[], list[int]], fixed: Callable[[], list[int]], relation: str
) -> None:
    rec, result = _record(loop)
    finding = _only_n_plus_one(run(rec))
    assert finding.relation == relation
    name = relation.rpartition(".")[2]
    assert finding.fix == f'select_related("{name}")'
    assert {event.attribute for event in rec.queries[1:]} == {name}
    # The fixed loop is the original with the fix applied: no finding, same values.
    import inspect

    assert finding.fix in inspect.getsource(fixed)
    fixed_rec, fixed_result = _record(fixed)
    assert run(fixed_rec) == []
    assert fixed_result == result


class ReaderSerializer(serializers.ModelSerializer[Reader]):
    class Meta:
        model = Reader
        fields = ("id", "user")


class RecommendationSerializer(serializers.ModelSerializer[Recommendation]):
    to_reader = ReaderSerializer()

    class Meta:
        model = Recommendation
        fields = ("id", "book", "to_reader")


@pytest.mark.usefixtures("recommendations")
def test_under_drf_the_nested_field_names_the_foreign_key() -> None:
    queryset = Recommendation.objects.order_by("id")
    rec, data = _record(lambda: RecommendationSerializer(queryset, many=True).data)
    finding = _only_n_plus_one(run(rec))
    assert finding.relation == "Recommendation.to_reader"
    assert finding.fix == 'select_related("to_reader")'
    fixed_rec, fixed_data = _record(
        lambda: RecommendationSerializer(queryset.select_related("to_reader"), many=True).data
    )
    assert run(fixed_rec) == []
    assert fixed_data == data


@pytest.mark.usefixtures("recommendations")
def test_without_an_attribute_load_both_keys_are_named_and_no_fix_is_guessed() -> None:
    """`getattr(row, name)` runs the query from a call, not an attribute load."""
    name = "to_reader"
    rec, _ = _record(
        lambda: [getattr(r, name).user_id for r in Recommendation.objects.order_by("id")]
    )
    finding = _only_n_plus_one(run(rec))
    assert finding.fix is None
    assert "`Recommendation.from_reader`" in finding.suggestion
    assert "`Recommendation.to_reader`" in finding.suggestion
