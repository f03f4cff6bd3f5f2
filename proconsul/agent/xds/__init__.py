"""The xDS server: Envoy's Aggregated Discovery Service over the agent's gRPC listeners."""
