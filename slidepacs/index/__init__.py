"""The index: the only package that imports SQLAlchemy."""
