"""Meeting summaries: reading transcripts, summarising them in one call or map-reduce,
and the summary a user gets back."""
