"""Chat commands: the table of them (``table.py``), and their handlers, one module per family."""
