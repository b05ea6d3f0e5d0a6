"""DRF serializers written the way real code drifts into N+1s, and their fixes."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tests.testapp.models import Author, Book, Tag


class AuthorSerializer(serializers.ModelSerializer[Author]):
    class Meta:
        model = Author
        fields = ("id", "name")


class TagSerializer(serializers.ModelSerializer[Tag]):
    class Meta:
        model = Tag
        fields = ("id", "name")


class BookSerializer(serializers.ModelSerializer[Book]):
    """Nested author: one author query per book unless select_related."""

    author = AuthorSerializer()

    class Meta:
        model = Book
        fields = ("id", "title", "author")


class BookWithTagsSerializer(serializers.ModelSerializer[Book]):
    tags = TagSerializer(many=True)

    class Meta:
        model = Book
        fields = ("id", "title", "tags")


class BookReviewCountSerializer(serializers.ModelSerializer[Book]):
    """A per-row count: one COUNT query per book unless annotated."""

    review_count = serializers.SerializerMethodField()

    class Meta:
        model = Book
        fields = ("id", "title", "review_count")

    def get_review_count(self, obj: Any) -> int:
        annotated = getattr(obj, "annotated_review_count", None)
        if annotated is not None:
            return int(annotated)
        return int(obj.reviews.count())  # review-count-marker
