"""The SAM template: linted by cfn-lint and `sam validate --lint`, and wired as the README says."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.support.helpers import REPO

SAM = REPO / ".venv-sam" / "bin" / "sam"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


class _Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    """CloudFormation's short forms (!Ref, !If, ...) as their long forms ({"Ref": ...}, {"Fn::If": ...})."""
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


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


@pytest.mark.skipif(not CHECKOV.exists(), reason="no .venv-checkov (scripts/setup_env.sh installs checkov there)")
def test_checkov_passes_and_every_skip_says_why():
    """checkov's CloudFormation checks on the template, offline (--skip-download): none fails, and a
    check that does not apply is skipped in the template's metadata with its reason."""
    import json

    result = subprocess.run([str(CHECKOV), "-f", "template.yaml", "--framework", "cloudformation", "--skip-download", "-o", "json"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)["results"]
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in report["failed_checks"]]
    assert failed == [] and result.returncode == 0, failed
    passed = {c["check_id"] for c in report["passed_checks"]}
    assert {"CKV_AWS_95", "CKV_AWS_115", "CKV_AWS_117", "CKV_AWS_66"} <= passed  # access log, concurrency, VPC, retention
    skipped = {(c["check_id"], c["resource"].split(".")[-1]) for c in report["skipped_checks"]}
    assert skipped == {("CKV_AWS_116", "SearchFunction"), ("CKV_AWS_173", "SearchFunction"), ("CKV_AWS_158", "FunctionLogs"),
                       ("CKV_AWS_158", "ApiAccessLogs")}
    assert all(len(c["check_result"]["suppress_comment"]) > 40 for c in report["skipped_checks"])  # each says why


def test_the_deployed_perimeter(template):
    """Access logs in JSON and the function's log, each with a retention; a reserved-concurrency
    ceiling; optional VPC subnets and security groups (empty = no VPC); no credentials in QdrantUrl."""
    import json
    import re

    resources, parameters = template["Resources"], template["Parameters"]
    api = resources["SearchApi"]["Properties"]
    access = api["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": "ApiAccessLogs.Arn"}
    assert json.loads(access["Format"].replace("\n", ""))["requestId"] == "$context.requestId"  # one JSON object per request
    for group in ("ApiAccessLogs", "FunctionLogs"):
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    props = resources["SearchFunction"]["Properties"]
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogs"}
    assert props["ReservedConcurrentExecutions"]["Fn::If"][:2] == ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}]
    vpc = props["VpcConfig"]["Fn::If"]
    assert vpc[0] == "InVpc" and vpc[1] == {"SubnetIds": {"Ref": "VpcSubnetIds"}, "SecurityGroupIds": {"Ref": "VpcSecurityGroupIds"}}
    assert parameters["VpcSubnetIds"]["Default"] == "" and parameters["ReservedConcurrency"]["Default"] == 0
    pattern = re.compile(parameters["QdrantUrl"]["AllowedPattern"])
    for good in ("", "https://xyz.cloud.qdrant.io:6333", "http://10.0.1.5:6333"):
        assert pattern.fullmatch(good), good
    for bad in ("https://user:pw@h:6333", "https://h:6333/?api-key=abc", "ftp://h"):
        assert not pattern.fullmatch(bad), bad


def test_function_wiring(template):
    function = template["Resources"]["SearchFunction"]
    assert function["Metadata"]["BuildMethod"] == "makefile"
    props = function["Properties"]
    assert props["Handler"] == "handler.lambda_handler"
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert props["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}} and props["AutoPublishAlias"]
    assert template["Conditions"]["SnapStartOn"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "on"]}
    routes = {e["Properties"]["Path"] for e in props["Events"].values()}
    assert routes == {"/", "/static/{name}", "/api/search", "/api/similar", "/api/facets/{field}", "/api/cities", "/health", "/docs", "/docs/assets/{name}",
                      "/openapi.json"}
    methods = {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in props["Events"].values()}
    assert methods == {(path, method) for path in routes for method in ("GET", "HEAD")}  # HEAD wherever GET is served
    assert "build-SearchFunction:" in (REPO / "Makefile").read_text()
    stage = template["Resources"]["SearchApi"]["Properties"]
    assert {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(stage["DefaultRouteSettings"])


def test_api_key_is_never_a_plaintext_parameter(template):
    for name, parameter in template["Parameters"].items():
        assert "ApiKey" not in name or name.endswith(("Parameter", "KmsKeyArn")), name
    assert template["Parameters"]["QdrantApiKeyParameter"]["Default"] == ""


def statements(template) -> list[dict]:
    """Every IAM statement of the function's policies, whichever branch of an !If it sits in."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "Effect" in node and "Action" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(template["Resources"]["SearchFunction"]["Properties"]["Policies"])
    return found


def test_kms_decrypt_is_granted_on_a_key_arn_through_ssm_only(template):
    """An alias ARN in a kms:Decrypt Resource grants nothing; the AWS-managed aws/ssm key needs no
    grant at all; a customer-managed key is named by parameter and used through SSM only."""
    assert "alias/" not in yaml.safe_dump(template["Resources"])
    kms = [s for s in statements(template) if "kms:Decrypt" in str(s["Action"])]
    assert kms == [{
        "Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Ref": "QdrantApiKeyKmsKeyArn"},
        "Condition": {"StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}}},
    }]
    assert template["Parameters"]["QdrantApiKeyKmsKeyArn"]["Default"] == ""
    assert template["Conditions"]["HasApiKeyKmsKey"]["Fn::And"][0] == {"Condition": "HasApiKeyParameter"}


def test_the_shard_in_s3_is_read_only_and_that_object_only(template):
    s3 = [s for s in statements(template) if "s3:" in str(s["Action"])]
    assert len(s3) == 1 and s3[0]["Action"] == "s3:GetObject"
    assert template["Parameters"]["QdrantShardS3Uri"]["Default"] == ""


def test_every_route_of_the_app_is_routed_by_the_api(template):
    """A route the app serves but API Gateway does not route would 404 on Lambda only."""
    from handler.search import SearchService
    from handler.web import create_app

    class NoService(SearchService):  # STAND-IN: routes are read from the app; nothing is served
        def __init__(self):
            pass

    from handler.common import Settings

    app = create_app(Settings.from_env(), NoService())
    served = {route.path for route in app.routes}
    routed = {e["Properties"]["Path"] for e in template["Resources"]["SearchFunction"]["Properties"]["Events"].values()}
    assert served - routed == set()


def test_cors_origins_reach_both_api_gateway_and_the_app(template):
    api = template["Resources"]["SearchApi"]["Properties"]
    assert api["CorsConfiguration"]["Fn::If"][0] == "HasCorsOrigins"
    variables = template["Resources"]["SearchFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["CORS_ALLOW_ORIGINS"] == {"Fn::Join": [",", {"Ref": "CorsAllowOrigins"}]}


def test_the_cors_policy_is_the_apps(template):
    """API Gateway answers the preflight, the app the requests: one policy (`handler.web.app`)."""
    from handler.web import app as api

    cors = template["Resources"]["SearchApi"]["Properties"]["CorsConfiguration"]["Fn::If"][1]
    assert (cors["AllowMethods"], cors["AllowHeaders"], cors["ExposeHeaders"], cors["MaxAge"]) == (
        api.CORS_METHODS, api.CORS_HEADERS, api.CORS_EXPOSE, api.CORS_MAX_AGE)


def test_the_artifact_paths_are_the_builds(template):
    """The function reads the model and the baked shard where infra/build_artifact.py puts them."""
    from handler.common import MODEL_FOLDER, SHARD_ARCHIVE

    variables = template["Resources"]["SearchFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["MODEL_DIR"] == f"/var/task/{MODEL_FOLDER}"
    assert variables["QDRANT_SHARD_SOURCE"]["Fn::If"][2] == f"/var/task/{SHARD_ARCHIVE}"


def test_a_search_ends_before_the_function_times_out(template):
    """No Qdrant call starts after REQUEST_TIMEOUT and each lasts at most QDRANT_TIMEOUT, so a
    search ends within their sum: the function's Timeout must be above it, or API Gateway answers
    for us with a body that is not ours. The template's defaults are ENV's where they are the same setting."""
    from handler.common import ENV

    parameters = template["Resources"]["SearchFunction"]["Properties"]["Environment"]["Variables"]
    assert parameters["REQUEST_TIMEOUT"] == {"Ref": "QdrantTimeout"}
    qdrant_timeout = template["Parameters"]["QdrantTimeout"]["Default"]
    assert template["Parameters"]["Timeout"]["Default"] > 2 * qdrant_timeout
    assert str(qdrant_timeout) == ENV["QDRANT_TIMEOUT"][0]
    assert template["Parameters"]["CollectionName"]["Default"] == ENV["COLLECTION_NAME"][0]


# Lambda's own metrics the alarms and the dashboard may name beside the function's (AWS/Lambda)
LAMBDA_METRICS = {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"}


def named_metrics(template) -> set[tuple[str, str]]:
    """(namespace, metric name) of every metric the alarms and the dashboard name."""
    import json
    import re

    from handler.web import NAMESPACE

    found = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        if "MetricName" in props:
            found.add((props["Namespace"], props["MetricName"]))
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                found.add((metric["Namespace"], metric["MetricName"]))
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(re.sub(r"\$\{[A-Za-z:]+\}", "X", body))  # valid JSON once its ${...} are filled
    for widget in dashboard["widgets"]:
        for metric in widget["properties"]["metrics"]:
            if isinstance(metric, dict):  # SEARCH('{Namespace,dimensions...} ... MetricName="X"', ...)
                namespace = re.search(r"SEARCH\('\{([^,}]+)", metric["expression"])[1]
                found.add((namespace, re.search(r'MetricName="([^"]+)"', metric["expression"])[1]))
            else:
                found.add((metric[0], metric[1]))
    assert NAMESPACE == "NeuralSearch"  # the template spells it out
    return found


def test_every_metric_the_alarms_and_dashboard_name_is_one_the_function_emits(template):
    from handler.web import METRICS, NAMESPACE

    named = named_metrics(template)
    ours = {name for namespace, name in named if namespace == NAMESPACE}
    assert ours and ours <= set(METRICS), ours - set(METRICS)
    assert {name for namespace, name in named if namespace == "AWS/Lambda"} <= LAMBDA_METRICS
    assert {namespace for namespace, _ in named} <= {NAMESPACE, "AWS/Lambda"}
    assert set(METRICS) <= ours  # the dashboard shows every metric the function emits


def test_alarms_watch_the_function_and_notify_only_when_given_a_topic(template):
    """5xx rate, p99 latency, throttles, Qdrant errors and the breaker; the dimension is the
    function's name (what the EMF Service dimension holds); AlarmTopicArn empty = no actions."""
    alarms = {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {(p.get("MetricName") or "rate", p.get("ExtendedStatistic") or p.get("Statistic")) for p in alarms.values()}
    assert {("rate", None), ("Latency", "p99"), ("Throttles", "Sum"), ("QdrantErrors", "Sum"), ("BreakerOpen", "Maximum")} <= watched
    for props in alarms.values():
        dimensions = props.get("Dimensions") or [d for q in props["Metrics"] if "MetricStat" in q for d in q["MetricStat"]["Metric"]["Dimensions"]]
        assert all(d["Value"] == {"Ref": "SearchFunction"} for d in dimensions) and dimensions
        for actions in ("AlarmActions", "OKActions"):
            assert props[actions] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert template["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}


def test_snapstart_default_follows_the_measured_init_and_the_published_restores(template):
    """On only if even the slowest published restore beats this project's own init
    (scripts.cost); the docs give the figures the decision read."""
    from scripts import cost

    assert template["Parameters"]["SnapStart"]["AllowedValues"] == ["on", "off"]
    assert template["Parameters"]["SnapStart"]["Default"] == ("on" if cost.snapstart_pays(cost.INIT_MS) else "off")
    lambda_md = (REPO / "docs" / "lambda.md").read_text()
    assert f"{cost.INIT_MS} ms" in lambda_md and f"{cost.SNAPSTART_RESTORE_MS[0]}-{cost.SNAPSTART_RESTORE_MS[1]} ms" in lambda_md
