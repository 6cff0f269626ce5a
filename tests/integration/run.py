#!/usr/bin/env python3
"""Integration tests: drive the pybundle binary against loopback servers. Usage: run.py PYBUNDLE

PYBUNDLE_TEST_ONLY="test_fetch test_vendor" runs only those modules (the sanitizer pass uses it)."""
import os
import sys
import unittest

if __name__ == "__main__":
    os.environ["PYBUNDLE"] = os.path.abspath(sys.argv[1])
    sys.argv = sys.argv[:1]
    only = os.environ.get("PYBUNDLE_TEST_ONLY", "").split()
    if only:
        sys.path.insert(0, "tests/integration")
        unittest.main(module=None, argv=[sys.argv[0], "-v", *only])
    else:
        unittest.main(module=None, argv=[sys.argv[0], "discover", "-s", "tests/integration", "-p", "test_*.py", "-v"])
