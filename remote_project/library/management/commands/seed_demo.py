"""``manage.py seed_demo``: fill Hilltop Books' catalogue and create the admin user, once."""

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from library.models import Book, Recommendation

#: (title, author, price). Most titles are sold by example_project's shop too, at another
#: price; the last few are only sold here.
CATALOGUE = [
    ("Pride and Prejudice", "Jane Austen", "8.20"),
    ("Emma", "Jane Austen", "7.40"),
    ("Persuasion", "Jane Austen", "6.60"),
    ("Jane Eyre", "Charlotte Brontë", "9.10"),
    ("Wuthering Heights", "Emily Brontë", "8.30"),
    ("Middlemarch", "George Eliot", "12.20"),
    ("Great Expectations", "Charles Dickens", "9.60"),
    ("Bleak House", "Charles Dickens", "13.10"),
    ("David Copperfield", "Charles Dickens", "10.80"),
    ("Moby-Dick", "Herman Melville", "11.70"),
    ("Frankenstein", "Mary Shelley", "6.50"),
    ("Dracula", "Bram Stoker", "7.20"),
    ("The Picture of Dorian Gray", "Oscar Wilde", "6.20"),
    ("Crime and Punishment", "Fyodor Dostoevsky", "12.40"),
    ("The Brothers Karamazov", "Fyodor Dostoevsky", "15.90"),
    ("Anna Karenina", "Leo Tolstoy", "13.80"),
    ("War and Peace", "Leo Tolstoy", "18.50"),
    ("Madame Bovary", "Gustave Flaubert", "8.70"),
    ("Les Misérables", "Victor Hugo", "16.40"),
    ("The Count of Monte Cristo", "Alexandre Dumas", "14.10"),
    ("Don Quixote", "Miguel de Cervantes", "15.20"),
    ("Ulysses", "James Joyce", "14.60"),
    ("Little Women", "Louisa May Alcott", "7.10"),
    ("The Scarlet Letter", "Nathaniel Hawthorne", "6.80"),
    ("Heart of Darkness", "Joseph Conrad", "5.30"),
    ("The Time Machine", "H. G. Wells", "5.90"),
    ("Treasure Island", "Robert Louis Stevenson", "6.40"),
    ("The Call of the Wild", "Jack London", "5.70"),
    ("North and South", "Elizabeth Gaskell", "9.40"),
    ("The Moonstone", "Wilkie Collins", "8.60"),
    ("Cranford", "Elizabeth Gaskell", "6.90"),
    ("The Woman in White", "Wilkie Collins", "9.20"),
]

#: Staff picks among this shop's own books (title, note).
OWN_PICKS = [("Cranford", "a gentle classic"), ("The Moonstone", "the first detective novel")]

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"


class Command(BaseCommand):
    """Seed the catalogue and the superuser unless they exist (safe to run every time)."""

    help = "Fill the demo catalogue and create the demo superuser, if not done yet."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        """Seed what is missing and report what was done."""
        if Book.objects.exists():
            self.stdout.write(f"catalogue already seeded ({Book.objects.count()} books)")
        else:
            Book.objects.bulk_create(
                Book(title=title, author=author, price=Decimal(price))
                for title, author, price in CATALOGUE
            )
            for title, note in OWN_PICKS:
                Recommendation.objects.create(book=Book.objects.get(title=title), note=note)
            self.stdout.write(f"seeded {len(CATALOGUE)} books and {len(OWN_PICKS)} staff picks")
        user_model = get_user_model()
        if not user_model.objects.filter(username=ADMIN_USERNAME).exists():
            user_model.objects.create_superuser(ADMIN_USERNAME, "", ADMIN_PASSWORD)
            self.stdout.write(f"created superuser {ADMIN_USERNAME!r}")
