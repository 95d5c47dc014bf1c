"""Answers: the sentence among the found passages that answers, and follow-ups read against the question before."""
