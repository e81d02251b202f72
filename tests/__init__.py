"""The test suite: one folder per package (tests/<package>/test_<module>.py), helpers in tests/support."""
