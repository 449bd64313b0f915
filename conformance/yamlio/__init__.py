"""Shared YAML loading for case files and target profiles: the source-mapping loader and the
errors that name file, line and key (used by cases/ and targets/ alike)."""
