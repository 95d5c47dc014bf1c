"""Sources of article files: the watched folder, the feeds and their guarded HTTP, and the updater that reindexes."""
