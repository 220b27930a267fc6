"""The one exception ingestion raises for a file (or source, or mapping) it cannot load."""

from __future__ import annotations


class FileError(Exception):
    """A file of the batch cannot be loaded; nothing of the batch is.

    `str()` is `<file or source>: <problem>`, which the CLI prints after `error: `.
    """

    def __init__(self, path_or_source: str, problem: str):
        super().__init__(path_or_source, problem)
        self.path_or_source = str(path_or_source)
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.path_or_source}: {self.problem}"
