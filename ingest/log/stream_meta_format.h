// On-disk format of a stream's control file, `<log dir>/<stream>/stream.json`, shared by the
// writer (Log::WriteStreamMeta) and the reader (Log::ParseStreamMeta). Described for people in
// docs/formats/stream-meta.md; change both together.
//
// One line of JSON, replaced atomically (write stream.json.tmp, fsync, rename, fsync the folder).
//
// Version 2 (written since resharding; keys may come in any order):
//   format_version    2
//   name              the stream name
//   shard_count       number of shards, open and closed (informational)
//   created_ms        stream creation time, Unix ms
//   retention_hours   24..8760
//   mode              "PROVISIONED" or "ON_DEMAND"
//   topology_version  number of reshards so far (>= 0)
//   shards            array, one object per shard in id order:
//     id              shard index (the N of shardId-N), equal to its position, 0-based
//     start, end      inclusive hash-key range, decimal strings in [0, 2^128 - 1], start <= end
//     parent          index of ParentShardId, or -1; < id
//     adjacent_parent index of AdjacentParentShardId, or -1; < id
//     end_sequence    0 while open; once closed, one past the last sequence number (>= 1)
//     created_ms      when the shard was created, Unix ms
//     closed_ms       when it closed, Unix ms; 0 while open
//   The open shards' ranges tile [0, 2^128 - 1] with no gap or overlap; at most 1024 are open and
//   10,000 exist.
//
// Version 1 (no format_version): name, shard_count (1..1024), created_ms and, in later files,
// retention_hours and mode (defaults 24 and PROVISIONED). Its shards are shard_count open shards
// with EvenHashKeyRanges(shard_count) (hash_key.h). Still read; rewritten as version 2 by the next
// change to the stream (retention or reshard).
//
// Recovery: a closed shard's end_sequence is lowered to the shard's recovered next sequence number
// when records that were pending at the close were lost in a crash (they were never acknowledged).
#pragma once

namespace sluice::log {

inline constexpr int kStreamMetaVersion = 2;

}  // namespace sluice::log
