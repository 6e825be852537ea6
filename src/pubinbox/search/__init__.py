"""Full-text search: public-inbox's query language on a Tantivy index."""
