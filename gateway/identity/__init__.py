"""Persons, their platform accounts and their pairwise subjects."""
