"""Running one suite's load from several processes: which scenarios split, the exact merge of
shard results, and the local worker processes with their coordinated start."""
