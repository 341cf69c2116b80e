# Build and local-invoke entry points. `sam build` calls build-SearchFunction (BuildMethod: makefile).
# The build reads LAMBDA_MODE, LAMBDA_SHARD, LAMBDA_ARCH and MODEL_DIR from the command line
# (make artifact LAMBDA_MODE=server) or the environment; their defaults live in `handler.common.config`
# (`make artifact`: x86_64, this machine's, so `make invoke` can run it), except sam build's architecture (below).
PYTHON ?= .venv/bin/python
EVENT ?= infra/events/http_api_v2.json

.PHONY: artifact invoke serve-lambda check-arm64 build-SearchFunction

artifact:
	$(PYTHON) infra/build_artifact.py

invoke:
	$(PYTHON) infra/local_invoke.py --event $(EVENT)

serve-lambda:
	$(PYTHON) infra/local_invoke.py --serve

# The arm64 artifacts, both modes (built for Debian's arm64 python3.11), answering a search through awslambdaric
# under qemu-aarch64 -cpu neoverse-n1: needs scripts/setup_emulation.sh; bounded, emulation is slow.
check-arm64:
	timeout 2700 $(PYTHON) -m pytest tests/jobs/test_arm64_artifact.py -q -s

# sam build runs this in the source directory with ARTIFACTS_DIR set, and no architecture (SAM
# passes none to a makefile build: aws/aws-sam-cli#3349): unless LAMBDA_ARCH is set, it builds
# template.yaml's Architecture default, the architecture the function deploys with.
TEMPLATE_ARCH = $(shell sed -n '/^  Architecture:/,/Default:/s/^ *Default: *//p' template.yaml)

build-SearchFunction:
	$(PYTHON) infra/build_artifact.py --arch $(or $(LAMBDA_ARCH),$(TEMPLATE_ARCH)) --out "$(ARTIFACTS_DIR)"
