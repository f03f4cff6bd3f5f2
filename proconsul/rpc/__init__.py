"""Server RPC port: type-byte/ALPN mux, msgpack-RPC codec, yamux, connection pool."""
