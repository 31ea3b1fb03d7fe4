// Base64 (RFC 4648 §4, standard alphabet, '=' padding), as the Kinesis JSON protocol uses for
// record Data. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

/// Decodes `in` into `out` (cleared first). Returns false for a character outside the alphabet,
/// bad padding or a length that is not a multiple of 4 (unpadded input is accepted when its
/// length mod 4 is 2 or 3, as some clients send).
bool Base64Decode(std::string_view in, std::string* out);

/// Appends the padded encoding of `in` to `out`.
void Base64Encode(std::string_view in, std::string* out);

}  // namespace sluice
