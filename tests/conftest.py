pytest_plugins = ["pycontainerd.testing.pytest_plugin"]
pytest_plugins += ["registry_harness"]  # docker-registry fixtures for tests/test_registry*.py
