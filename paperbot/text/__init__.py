"""Text helpers with no outside state: sentences, terms, numbers, names, ids, and strings made safe to show."""
