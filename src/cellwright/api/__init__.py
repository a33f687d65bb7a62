"""The shared API layer: parameter schema, Struct conversion, strict YAML, the state-stream
codec and sockets, and a client of the public gRPC API. Imports nothing above it."""
