"""``manage.py seed_demo``: fill Riverside Books' catalogue, listings and shelves, once."""

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from library.models import Book, Listing, ReadingList
from through_models.models import Shelf, ShelfEntry

#: (title, author, price). Most titles are sold by remote_project's shop too, at another
#: price; the last few are only sold here.
CATALOGUE = [
    ("Pride and Prejudice", "Jane Austen", "7.99"),
    ("Emma", "Jane Austen", "6.99"),
    ("Persuasion", "Jane Austen", "6.49"),
    ("Jane Eyre", "Charlotte Brontë", "8.49"),
    ("Wuthering Heights", "Emily Brontë", "7.99"),
    ("Middlemarch", "George Eliot", "11.99"),
    ("Great Expectations", "Charles Dickens", "8.99"),
    ("Bleak House", "Charles Dickens", "12.49"),
    ("David Copperfield", "Charles Dickens", "10.99"),
    ("Moby-Dick", "Herman Melville", "10.49"),
    ("Frankenstein", "Mary Shelley", "5.99"),
    ("Dracula", "Bram Stoker", "6.99"),
    ("The Picture of Dorian Gray", "Oscar Wilde", "5.49"),
    ("Crime and Punishment", "Fyodor Dostoevsky", "11.49"),
    ("The Brothers Karamazov", "Fyodor Dostoevsky", "14.99"),
    ("Anna Karenina", "Leo Tolstoy", "12.99"),
    ("War and Peace", "Leo Tolstoy", "17.99"),
    ("Madame Bovary", "Gustave Flaubert", "7.49"),
    ("Les Misérables", "Victor Hugo", "15.49"),
    ("The Count of Monte Cristo", "Alexandre Dumas", "13.49"),
    ("Don Quixote", "Miguel de Cervantes", "14.49"),
    ("Ulysses", "James Joyce", "13.99"),
    ("Little Women", "Louisa May Alcott", "6.49"),
    ("The Scarlet Letter", "Nathaniel Hawthorne", "5.99"),
    ("Heart of Darkness", "Joseph Conrad", "4.99"),
    ("The Time Machine", "H. G. Wells", "4.99"),
    ("Treasure Island", "Robert Louis Stevenson", "5.99"),
    ("The Call of the Wild", "Jack London", "4.49"),
    ("Sense and Sensibility", "Jane Austen", "6.99"),
    ("Vanity Fair", "William Makepeace Thackeray", "9.99"),
    ("The Secret Garden", "Frances Hodgson Burnett", "5.49"),
]

#: Shelves and the titles of this shop first put on them.
SHELVES = {
    "Alice's shelf": ["Emma", "Frankenstein"],
    "Bob's shelf": ["Moby-Dick", "Dracula", "The Time Machine"],
}

#: Reading lists and the titles of this shop first put on them (sync_listings adds the
#: first books of each peer).
READING_LISTS = {"Alice's reading list": ["Emma", "Middlemarch"]}

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"


class Command(BaseCommand):
    """Seed books, their listings, shelves and the superuser unless they exist (idempotent)."""

    help = "Fill the demo catalogue, listings and shelves, and create the demo superuser."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        """Seed what is missing and report what was done."""
        if Book.objects.exists():
            self.stdout.write(f"catalogue already seeded ({Book.objects.count()} books)")
        else:
            books = [
                Book.objects.create(title=title, author=author, price=Decimal(price))
                for title, author, price in CATALOGUE
            ]
            for book in books:
                Listing.objects.create(book=book)
            by_title = {book.title: book for book in books}
            for name, titles in SHELVES.items():
                shelf = Shelf.objects.create(name=name)
                for title in titles:
                    ShelfEntry.objects.create(
                        shelf=shelf, item=by_title[title], reason="a favourite"
                    )
            for name, titles in READING_LISTS.items():
                ReadingList.objects.create(name=name).books.add(
                    *(by_title[title] for title in titles)
                )
            self.stdout.write(
                f"seeded {len(books)} books, their listings, {len(SHELVES)} shelves and "
                f"{len(READING_LISTS)} reading list(s)"
            )
        user_model = get_user_model()
        if not user_model.objects.filter(username=ADMIN_USERNAME).exists():
            user_model.objects.create_superuser(ADMIN_USERNAME, "", ADMIN_PASSWORD)
            self.stdout.write(f"created superuser {ADMIN_USERNAME!r}")
