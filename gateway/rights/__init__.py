"""Data-subject requests: export and erasure with a 30-day deadline (PIPL Arts. 45, 47;
GDPR Arts. 15, 17, 19, 20)."""
