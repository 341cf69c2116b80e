"""AWS Lambda entry point: `handler.lambda_handler`.

The app, the ONNX session and the Qdrant client are built at import, i.e. in Lambda's init
phase (captured by SnapStart), once per execution environment. Mangum's lifespan is off:
it would rerun on every invocation, so nothing is loaded there.
"""

from mangum import Mangum

from handler.api import create_app

app = create_app()
lambda_handler = Mangum(app, lifespan="off")
