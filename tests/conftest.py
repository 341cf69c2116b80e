"""Shared fixtures. The model is exported once per test session with the real CLI.

Every test that needs the exported model (the `export_run` fixture, directly or through
`model_dir` and the fixtures built on it) is marked `slow` here, so `pytest -m "not slow"` is the fast tier: no export, under a
minute. Set TEST_MODEL_DIR to an existing export to skip the export while iterating.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.support.helpers import SAMPLE_FILE, make_settings, run_module


def pytest_collection_modifyitems(items):
    for item in items:
        if "export_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def export_run(tmp_path_factory):
    reuse = os.environ.get("TEST_MODEL_DIR")
    if reuse:
        return Path(reuse).resolve(), None  # absolute: tests link to its files from elsewhere
    out = tmp_path_factory.mktemp("export") / "model"
    result = run_module("export", "--out", str(out))
    assert result.returncode == 0, f"export failed:\n{result.stdout}\n{result.stderr}"
    return out, result


@pytest.fixture(scope="session")
def model_dir(export_run) -> Path:
    return export_run[0]


@pytest.fixture
def logged():
    """Every message the service's logger writes during the test (its events are JSON strings)."""
    caught = []
    collector = logging.Handler()
    collector.emit = lambda record: caught.append(record.getMessage())
    logging.getLogger("handler").addHandler(collector)
    yield caught
    logging.getLogger("handler").removeHandler(collector)


@pytest.fixture(scope="session")
def sample_file() -> Path:
    if not SAMPLE_FILE.is_file():
        pytest.fail(f"test data missing: {SAMPLE_FILE} (the shared data folder beside the repo)")
    return SAMPLE_FILE


@pytest.fixture(scope="session")
def sample_vectors(model_dir, sample_file, tmp_path_factory) -> Path:
    """scripts.embed's output for the sample (the serving default variant)."""
    out = tmp_path_factory.mktemp("vectors")
    result = run_module("scripts.embed", "--model-dir", str(model_dir), "--input", str(sample_file), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def loaded_qdrant(model_dir, sample_vectors, sample_file, tmp_path_factory) -> Path:
    """QDRANT_PATH holding the `startups` collection: the sample, embedded and uploaded by the scripts
    (weak_match calibrated with the model)."""
    root = tmp_path_factory.mktemp("service")
    uploaded = run_module("scripts.upload", "--input", str(sample_file), "--vectors", str(sample_vectors), "--model-dir", str(model_dir),
                          env={"QDRANT_PATH": str(root), "QDRANT_URL": ""})
    assert uploaded.returncode == 0, uploaded.stderr
    return root


@pytest.fixture(scope="session")
def service(model_dir, loaded_qdrant):
    from handler.search import SearchService

    return SearchService.start(make_settings(model_dir, loaded_qdrant))


@pytest.fixture(scope="session")
def client(service):
    from fastapi.testclient import TestClient

    from handler.web import create_app

    return TestClient(create_app(service.settings, service))


# -- the page in Chromium (`tests.web.test_page`, `tests.web.test_page_phone`) ----------------------------------
@pytest.fixture(scope="module")
def site(service):
    """The app with the sample on a real uvicorn server (worker runner, as `python -m handler`)."""
    from handler.web import create_app
    from tests.support.chromium import serve

    with serve(create_app(service.settings, service, concurrency="worker")) as base:
        yield base


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from tests.support.chromium import start_browser

    driver = start_browser(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def screenshot(request, tmp_path):
    """What the browser showed at the end of each test that used it, in the test's tmp dir."""
    yield
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").save_screenshot(str(tmp_path / f"{request.node.name}.png"))
