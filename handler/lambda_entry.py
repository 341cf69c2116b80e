"""AWS Lambda entry point: `handler.lambda_handler`.

The app, the ONNX session and the Qdrant client are built at import, i.e. in Lambda's init
phase, once per execution environment; with SnapStart that init is snapshotted once and restored
many times. Mangum's lifespan is off: it would rerun on every invocation, so nothing is loaded there.
"""

import json
import logging

from handler.common import StartupError, check_artifact_arch

check_artifact_arch(StartupError)  # first: on the wrong architecture the compiled imports below fail unreadably

from mangum import Mangum  # noqa: E402 (after the architecture check)

from handler.web import create_app, guarded  # noqa: E402

app = create_app(concurrency="inline")
lambda_handler = guarded(Mangum(app, lifespan="off"))  # an event Mangum cannot read: a JSON 400, never a stack trace


def _register_snapstart_hooks(service) -> bool:
    """AWS's runtime hooks (module snapshot_restore_py, in the Lambda Python runtime and beside
    awslambdaric). Outside Lambda the module is absent and there is nothing to snapshot."""
    try:  # deferred: only the Lambda runtime (and awslambdaric) has it
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    log = logging.getLogger("handler")

    def before_snapshot():
        service.before_snapshot()
        log.info(json.dumps({"event": "snapstart", "hook": "before_snapshot"}))

    def after_restore():
        service.after_restore()
        log.info(json.dumps({"event": "snapstart", "hook": "after_restore"}))

    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


_register_snapstart_hooks(app.state.service)
