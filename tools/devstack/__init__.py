"""Dev-only local stack (never deployed): the FC gateway, and later the queue worker and demo merchant page."""
