"""example_project's shop: its books, the listings of both shops' books and readers' shelves."""
