"""A small library domain: enough relations to produce every query shape."""

from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    tags = models.ManyToManyField(Tag, related_name="books", blank=True)
    published = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return self.title

    @property
    def author_name(self) -> str:
        # A property that queries when `author` was not select_related.
        return self.author.name


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField()

    def __str__(self) -> str:
        return f"{self.book_id}: {self.rating}"


class AuthorProfile(models.Model):
    author = models.OneToOneField(Author, on_delete=models.CASCADE, related_name="profile")
    bio = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"profile of {self.author_id}"


# -- the detector corpus (tests/test_detect_corpus.py): readers, loans --------


class Reader(models.Model):
    """A library member: the `request.user` side of favourites and follows."""

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, related_name="reader")
    favorites = models.ManyToManyField(Book, related_name="favorited_by", blank=True)
    follows = models.ManyToManyField(
        "self", related_name="followed_by", symmetrical=False, blank=True
    )

    def __str__(self) -> str:
        return f"reader {self.user_id}"

    def has_favorited(self, book: Book) -> bool:
        return self.favorites.filter(pk=book.pk).exists()  # has-favorited-marker

    def is_following(self, other: Reader) -> bool:
        return self.follows.filter(pk=other.pk).exists()  # is-following-marker


class Loan(models.Model):
    """A book lent to a reader: a reverse FK with a per-row filter (`returned`)."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="loans")
    reader = models.ForeignKey(Reader, on_delete=models.CASCADE, related_name="loans")
    returned = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"loan {self.book_id} to {self.reader_id}"


class Recommendation(models.Model):
    """A book one reader recommends to another: two foreign keys to `Reader`,
    which the SQL of a per-row load cannot tell apart."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="recommendations")
    from_reader = models.ForeignKey(
        Reader, on_delete=models.CASCADE, related_name="recommendations_made"
    )
    to_reader = models.ForeignKey(
        Reader, on_delete=models.CASCADE, related_name="recommendations_received"
    )

    def __str__(self) -> str:
        return f"recommendation of {self.book_id} to {self.to_reader_id}"
