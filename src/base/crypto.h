/*
 * crypto.h — token encryption at rest and webhook HMAC (OpenSSL).
 */
#ifndef SHOPIFY_CRYPTO_H
#define SHOPIFY_CRYPTO_H

#include "postgres.h"

extern const char *shopify_token_key_id(void);
extern bytea *shopify_encrypt_token(const char *token, const char *shop_domain,
									const char **key_id);
extern char *shopify_decrypt_token(const bytea *ct, const char *shop_domain,
								   const char *stored_key_id);
extern void shopify_free_secret(char *secret);
extern bool shopify_hmac_verify(const char *secret, const char *body, size_t body_len,
								const char *signature_b64);

#endif
