"""shadownets."""
