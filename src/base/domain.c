/*
 * domain.c — validation and normalisation of shop domains and access tokens.
 *
 * This is the SSRF guard: the worker sends requests (carrying the store's
 * access token) to https://<shop_domain>, so the only thing ever accepted is
 * <name>.myshopify.com, where <name> is one DNS label of letters, digits and
 * hyphens.  Accepted spellings: any case, an optional http:// or https://
 * prefix and one optional trailing slash.  Everything else is refused:
 * whitespace, control and non-ASCII characters (homoglyphs), percent-encoding,
 * user information, ports, paths, queries, fragments, IP addresses, other
 * suffixes and trailing dots.  Pure functions: no SQL, no ereport.
 */
#include "postgres.h"

#include "base/domain.h"

#define MYSHOPIFY_SUFFIX ".myshopify.com"
#define MAX_LABEL 63

static bool
has_prefix_ci(const char *s, const char *prefix)
{
	return pg_strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Normalise a shop domain.  Returns a palloc'd "<name>.myshopify.com", or
 * NULL with *reason set to a sentence that says why the input was refused.
 * The reason never quotes the input.
 */
char *
shopify_normalize_domain(const char *input, const char **reason)
{
	const char *p = input;
	size_t		len;
	char	   *out;
	size_t		namelen;
	size_t		i;

	*reason = NULL;
	if (input == NULL || *input == '\0')
	{
		*reason = "The shop domain is empty.";
		return NULL;
	}

	for (i = 0; input[i] != '\0'; i++)
	{
		unsigned char c = (unsigned char) input[i];

		if (c <= 0x20 || c >= 0x7f)
		{
			*reason = "The shop domain contains whitespace, control or non-ASCII characters.";
			return NULL;
		}
	}
	if (i > 255)
	{
		*reason = "The shop domain is longer than 255 characters.";
		return NULL;
	}

	if (has_prefix_ci(p, "https://"))
		p += 8;
	else if (has_prefix_ci(p, "http://"))
		p += 7;
	else if (strstr(p, "://") != NULL)
	{
		*reason = "Only an http:// or https:// prefix is accepted.";
		return NULL;
	}

	len = strlen(p);
	if (len > 0 && p[len - 1] == '/')
		len--;

	for (i = 0; i < len; i++)
	{
		char		c = p[i];

		if (c == '%')
		{
			*reason = "Percent-encoded characters are not accepted in a shop domain.";
			return NULL;
		}
		if (c == '@')
		{
			*reason = "A shop domain cannot contain user information (@).";
			return NULL;
		}
		if (c == ':')
		{
			*reason = "A shop domain cannot contain a port or a scheme in the middle.";
			return NULL;
		}
		if (c == '/' || c == '\\' || c == '?' || c == '#')
		{
			*reason = "A shop domain cannot contain a path, a query or a fragment.";
			return NULL;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '.'))
		{
			*reason = "A shop domain may contain only letters, digits, hyphens and dots.";
			return NULL;
		}
	}

	out = palloc(len + 1);
	for (i = 0; i < len; i++)
		out[i] = pg_ascii_tolower((unsigned char) p[i]);
	out[len] = '\0';

	if (len <= strlen(MYSHOPIFY_SUFFIX) ||
		strcmp(out + len - strlen(MYSHOPIFY_SUFFIX), MYSHOPIFY_SUFFIX) != 0)
	{
		*reason = "The shop domain must be <name>.myshopify.com.";
		pfree(out);
		return NULL;
	}

	namelen = len - strlen(MYSHOPIFY_SUFFIX);
	if (namelen > MAX_LABEL)
	{
		*reason = "The shop name part of the domain is longer than 63 characters.";
		pfree(out);
		return NULL;
	}
	for (i = 0; i < namelen; i++)
	{
		if (out[i] == '.')
		{
			*reason = "The shop name part of the domain must be a single label (<name>.myshopify.com).";
			pfree(out);
			return NULL;
		}
	}
	if (out[0] == '-' || out[namelen - 1] == '-')
	{
		*reason = "The shop name cannot begin or end with a hyphen.";
		pfree(out);
		return NULL;
	}

	return out;
}

/*
 * Check an access token's shape without looking at its meaning: non-empty,
 * printable ASCII without spaces, at most 255 characters.  Returns NULL when
 * acceptable, else a reason (which never quotes the token).
 */
const char *
shopify_check_token_shape(const char *token)
{
	size_t		i;

	if (token == NULL || token[0] == '\0')
		return "The access token is empty.";
	for (i = 0; token[i] != '\0'; i++)
	{
		unsigned char c = (unsigned char) token[i];

		if (c <= 0x20 || c >= 0x7f)
			return "The access token contains whitespace, control or non-ASCII characters.";
	}
	if (i > 255)
		return "The access token is longer than 255 characters.";
	return NULL;
}
