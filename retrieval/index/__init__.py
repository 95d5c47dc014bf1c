"""The index: storage behind the Corpus protocol (the SQLite index folder or Postgres), and the ingest that fills it."""
