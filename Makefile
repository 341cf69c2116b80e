# Build and local-invoke entry points. `sam build` calls build-SearchFunction (BuildMethod: makefile).
# The build reads LAMBDA_MODE, LAMBDA_SHARD, LAMBDA_ARCH and MODEL_DIR from the command line
# (make artifact LAMBDA_MODE=server) or the environment; their defaults live in `handler.common.config`.
PYTHON ?= .venv/bin/python
EVENT ?= infra/events/http_api_v2.json

.PHONY: artifact invoke serve-lambda build-SearchFunction

artifact:
	$(PYTHON) infra/build_artifact.py

invoke:
	$(PYTHON) infra/local_invoke.py --event $(EVENT)

serve-lambda:
	$(PYTHON) infra/local_invoke.py --serve

# sam build runs this in the source directory with ARTIFACTS_DIR set.
build-SearchFunction:
	$(PYTHON) infra/build_artifact.py --out "$(ARTIFACTS_DIR)"
