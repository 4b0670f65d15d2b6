"""Models and admin registrations of the forms and admin tests (after ``generic_inline_admin``)."""
