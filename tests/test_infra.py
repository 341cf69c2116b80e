"""The SAM template: linted by cfn-lint and `sam validate --lint`, and wired as the README says."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.helpers import REPO

SAM = REPO / ".venv-sam" / "bin" / "sam"


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # CloudFormation intrinsics


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load((REPO / "template.yaml").read_text(), Loader=_Loader)


def test_cfn_lint_is_clean():
    cfn_lint = shutil.which("cfn-lint", path=os.pathsep.join([str(REPO / ".venv" / "bin"), os.environ.get("PATH", "")]))
    assert cfn_lint, "cfn-lint is installed by the dev extra"
    result = subprocess.run([cfn_lint, "template.yaml"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not SAM.exists(), reason="no .venv-sam (scripts/setup_env.sh installs the SAM CLI there)")
def test_sam_validate_lint_is_clean():
    result = subprocess.run([str(SAM), "validate", "--lint"], cwd=REPO, capture_output=True, text=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
    assert result.returncode == 0 and "is a valid SAM Template" in result.stdout + result.stderr, result.stdout + result.stderr


def test_function_wiring(template):
    function = template["Resources"]["SearchFunction"]
    assert function["Metadata"]["BuildMethod"] == "makefile"
    props = function["Properties"]
    assert props["Handler"] == "handler.lambda_handler"
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"} and props["AutoPublishAlias"]
    routes = {e["Properties"]["Path"] for e in props["Events"].values()}
    assert routes == {"/api/search", "/health", "/docs", "/openapi.json"}
    assert "build-SearchFunction:" in (REPO / "Makefile").read_text()
    stage = template["Resources"]["SearchApi"]["Properties"]
    assert {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(stage["DefaultRouteSettings"])


def test_api_key_is_never_a_plaintext_parameter(template):
    for name, parameter in template["Parameters"].items():
        assert "ApiKey" not in name or name.endswith("Parameter"), name
    assert template["Parameters"]["QdrantApiKeyParameter"]["Default"] == ""
