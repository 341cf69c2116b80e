"""Neural search service: the runtime that ships in the Lambda function.

Public surface, one object per name however it is imported:
- `handler.lambda_handler`: what AWS Lambda calls (Mangum around the app);
- `handler.app`: the FastAPI app that `lambda_handler` serves.

Both are built on first access (model and Qdrant opened once), so the batch jobs can import a wing
without loading FastAPI. The code is in wings, each with a public face (its `__init__` and
`__all__`), imported in one direction only:

    web -> search -> {model, storage} -> common

- `handler.web`: the FastAPI app (`create_app`), its routes, page, middleware and runners;
- `handler.search`: the search service, its requests and modes, the query cache, weak_match;
- `handler.model`: the ONNX encoder, the export's manifest, the model file's check, the CPU;
- `handler.storage`: records, BM25, the vector store (Qdrant Edge or a server), the shard archive;
- `handler.common`: configuration, the errors, command lines, files, logs, deadlines.

`handler.api.create_app` is kept as an alias of `handler.web.create_app`.
"""

__all__ = ["lambda_handler", "app"]


def __getattr__(name: str):
    if name in __all__:
        from handler import lambda_entry

        return getattr(lambda_entry, name)
    raise AttributeError(f"module 'handler' has no attribute '{name}'")
