"""Server-side ACLs: token resolution, the leader's ACL set-up and token reaping."""
