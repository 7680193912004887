"""The hot store: recent samples in SQL (SQLite or PostgreSQL) behind one interface."""
