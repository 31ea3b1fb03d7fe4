#include "core/hash_key.h"

#include <openssl/evp.h>

#include <memory>

namespace sluice {
namespace {

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

HashKey HashPartitionKey(std::string_view partition_key) {
  // One context per thread, reused, and MD5 fetched from the provider once: EVP_Digest() and
  // EVP_md5() allocate a context and look the algorithm up (under a lock) on every call, which
  // costs several times the digest itself for a short key.
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "MD5", nullptr);  // never freed: process-wide
  const EVP_MD* md5 = fetched != nullptr ? fetched : EVP_md5();
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md5, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), partition_key.data(), partition_key.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) {
    // When OpenSSL cannot allocate a context: the one-shot call. If MD5 is not available at all
    // (a FIPS-only provider), both fail, len stays 0 and every key hashes to 0: records all go to
    // the first shard and the first key group, which stays correct, only unbalanced.
    EVP_Digest(partition_key.data(), partition_key.size(), digest, &len, md5, nullptr);
  }
  HashKey k = 0;
  for (unsigned i = 0; i < 16 && i < len; ++i) k = (k << 8) | digest[i];
  return k;
}

}  // namespace sluice
