"""dgsplit's parts: grouping rows that share biology, then allocating groups to splits."""
