"""Neural search service: the runtime that ships in the Lambda function.

Public surface, one object per name however it is imported:
- `handler.lambda_handler`: what AWS Lambda calls (Mangum around the app);
- `handler.app`: the FastAPI app that `lambda_handler` serves.

Both are built on first access (model and Qdrant opened once), so the batch jobs can import
`handler.encoder` or `handler.storage` without loading FastAPI. The app factory is
`handler.api.create_app`.
"""

__all__ = ["lambda_handler", "app"]


def __getattr__(name: str):
    if name in __all__:
        from handler import lambda_entry

        return getattr(lambda_entry, name)
    raise AttributeError(f"module 'handler' has no attribute '{name}'")
