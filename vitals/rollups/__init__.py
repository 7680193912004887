"""Stored rollups: per site-day files and per site-month compactions."""
