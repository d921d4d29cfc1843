"""QDC filtering: quality and complexity scorers, embedders, FAISS diversity, selection strategies, metrics."""
