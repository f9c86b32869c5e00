"""Command handlers, one module per command family. Each yields ReplyEvents."""
