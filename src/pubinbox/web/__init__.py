"""The web archive (``pubinbox serve``): public-inbox's pages and URLs."""
