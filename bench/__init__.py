"""peerbot's benchmark suite (issue #6): ``python -m bench``; see docs/benchmarks.md."""
