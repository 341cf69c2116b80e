"""Neural search service: FastAPI app, Lambda entry point, shared encoder and storage.

`handler.lambda_handler` is what AWS Lambda calls. It is resolved lazily, so the batch
script can import `handler.encoder` and `handler.storage` without loading FastAPI.
"""

__all__ = ["lambda_handler", "app"]


def __getattr__(name: str):
    if name in ("lambda_handler", "app"):
        from handler import lambda_entry

        return getattr(lambda_entry, name)
    raise AttributeError(f"module 'handler' has no attribute '{name}'")
