"""Search: a question read against the corpus, then hybrid keyword and vector search fused by rank."""
