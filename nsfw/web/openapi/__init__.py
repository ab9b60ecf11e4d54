"""The OpenAPI document: ``spec`` builds it from the views' ``@doc`` annotations and serves /openapi.json
and /docs; ``schemas`` holds the shared schemas and the error codes each route documents.
"""
