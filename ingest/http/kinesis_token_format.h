// Wire format of the Kinesis API's opaque tokens: shard iterators (GetShardIterator,
// GetRecords.NextShardIterator) and pagination NextTokens (ListShards, ListStreams). Described for
// people in docs/kinesis-api.md ("Opaque tokens"); change both together.
//
// A token is the standard base64 (RFC 4648 §4, padded) of this little-endian structure:
//
//   offset  size  field
//   0       1     version            1
//   1       1     kind               1 shard iterator, 2 ListShards NextToken, 3 ListStreams NextToken
//   2       2     name_length        n, 1..128
//   4       n     stream name        iterator, ListShards: the stream; ListStreams: the last name returned
//   4+n     8     stream_created_ms  the stream's creation time (Unix ms), so a token of a deleted
//                                    stream never reads a re-created one; 0 for ListStreams
//   12+n    4     shard              iterator: shard index; ListShards: index of the next shard to list
//   16+n    8     sequence           iterator: the next sequence number to read; ListShards: the
//                                    ShardFilter (kind in the top 8 bits: 0 none, 1 AT_TRIM_HORIZON,
//                                    2 FROM_TRIM_HORIZON, 3 AT_LATEST, 4 AT_TIMESTAMP,
//                                    5 FROM_TIMESTAMP; its Timestamp in Unix ms in the low 56);
//                                    ListStreams: 0
//   24+n    8     issued_ms          when the token was made (Unix ms); tokens expire after a TTL
//   32+n    4     crc32c             CRC32C (core/crc32c.h) of bytes [0, 32+n)
//
// The CRC catches corrupted and hand-edited tokens (they are refused as InvalidArgumentException);
// it is not a secret, so it does not stop a deliberate forgery, which can only reach data the
// caller could read anyway. Tokens survive a restart of Sluice.
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice::http {

inline constexpr uint8_t kTokenVersion = 1;
/// Bytes of a token besides the stream name.
inline constexpr size_t kTokenFixedBytes = 36;

/// What a token is for.
enum class TokenKind : uint8_t { kShardIterator = 1, kListShards = 2, kListStreams = 3 };

/// A decoded token. Fields as in the layout above.
struct KinesisToken {
  TokenKind kind = TokenKind::kShardIterator;
  std::string stream;
  int64_t stream_created_ms = 0;
  uint32_t shard = 0;
  uint64_t sequence = 0;
  int64_t issued_ms = 0;
};

/// The token's text. REQUIRES: 1 <= token.stream.size() <= 128.
std::string EncodeToken(const KinesisToken& token);

/// Parses token text. Errors: InvalidArgument when it is not base64, has the wrong length,
/// version or kind, or fails its CRC. The caller checks the kind it expects and the TTL.
Result<KinesisToken> DecodeToken(std::string_view text);

}  // namespace sluice::http
