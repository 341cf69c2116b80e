# Build and local-invoke entry points. `sam build` calls build-SearchFunction (BuildMethod: makefile).
PYTHON ?= .venv/bin/python
MODEL_DIR ?= model
ARTIFACT ?= infra/build/lambda
EVENT ?= infra/events/http_api_v2.json

.PHONY: artifact invoke serve-lambda build-SearchFunction

artifact:
	$(PYTHON) infra/build_artifact.py --out $(ARTIFACT) --model-dir $(MODEL_DIR)

invoke:
	$(PYTHON) infra/local_invoke.py --artifact $(ARTIFACT) --event $(EVENT)

serve-lambda:
	$(PYTHON) infra/local_invoke.py --artifact $(ARTIFACT) --serve

# sam build runs this in the source directory with ARTIFACTS_DIR set.
build-SearchFunction:
	$(PYTHON) infra/build_artifact.py --out "$(ARTIFACTS_DIR)" --model-dir $(MODEL_DIR)
