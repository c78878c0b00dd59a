/*
 * domain.h — shop domain and access token validation (the SSRF guard).
 */
#ifndef SHOPIFY_DOMAIN_H
#define SHOPIFY_DOMAIN_H

extern char *shopify_normalize_domain(const char *input, const char **reason);
extern const char *shopify_check_token_shape(const char *token);

#endif
