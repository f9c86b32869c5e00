"""The weekly usage digest: the message each user gets, its chart, when it is due, and
the runner and scheduler that send it once per user and week."""
