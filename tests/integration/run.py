#!/usr/bin/env python3
"""Integration tests: drive the pybundle binary against loopback servers. Usage: run.py PYBUNDLE"""
import os
import sys
import unittest

if __name__ == "__main__":
    os.environ["PYBUNDLE"] = os.path.abspath(sys.argv[1])
    sys.argv = sys.argv[:1]
    unittest.main(module=None, argv=[sys.argv[0], "discover", "-s", "tests/integration", "-p", "test_*.py", "-v"])
