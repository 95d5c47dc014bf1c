"""Reading: article files to clean articles, their paragraphs and passages, dates and the one tokenizer."""
