"""Report: what a run tells people, in the terminal, as JSON, as an HTML page and as a CI
job's Markdown summary; write.py writes the files."""
