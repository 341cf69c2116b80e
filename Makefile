# Build and local-invoke entry points. `sam build` calls build-SearchFunction (BuildMethod: makefile).
# The artifact's storage mode and baked shard: LAMBDA_MODE (embedded|server) and LAMBDA_SHARD
# (a QDRANT_PATH/<collection> directory), from the command line or the environment (README).
PYTHON ?= .venv/bin/python
MODEL_DIR ?= model
ARTIFACT ?= infra/build/lambda
EVENT ?= infra/events/http_api_v2.json
LAMBDA_MODE ?= embedded
LAMBDA_SHARD ?=
BUILD = $(PYTHON) infra/build_artifact.py --mode $(LAMBDA_MODE) --model-dir $(MODEL_DIR) $(if $(LAMBDA_SHARD),--shard $(LAMBDA_SHARD),)

.PHONY: artifact invoke serve-lambda build-SearchFunction

artifact:
	$(BUILD) --out $(ARTIFACT)

invoke:
	$(PYTHON) infra/local_invoke.py --artifact $(ARTIFACT) --event $(EVENT)

serve-lambda:
	$(PYTHON) infra/local_invoke.py --artifact $(ARTIFACT) --serve

# sam build runs this in the source directory with ARTIFACTS_DIR set.
build-SearchFunction:
	$(BUILD) --out "$(ARTIFACTS_DIR)"
