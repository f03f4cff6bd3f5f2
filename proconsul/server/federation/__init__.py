"""WAN federation through mesh gateways, the server's part: the leader routines that
keep each datacenter's federation state (its mesh gateways) in the primary."""
