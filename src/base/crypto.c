/*
 * crypto.c — access tokens at rest (AES-256-GCM) and webhook signatures
 * (HMAC-SHA256), with OpenSSL.
 *
 * Key: 32 random bytes in shopify_sync.token_key_file (relative paths are
 * taken from the data directory), stored as 64 hex digits.  The first backend
 * that needs the key and finds no file creates it atomically (write a
 * private temporary file, fsync, link(2) into place: a concurrent creator
 * loses the race and reads the winner's key).  A key file readable by group
 * or others is refused, like the server's own TLS key.
 *
 * Ciphertext layout: 0x01 (format version) | 12-byte random nonce |
 * ciphertext | 16-byte GCM tag.  The shop domain is the additional
 * authenticated data, so a ciphertext cannot be moved to another store.
 *
 * Plaintext tokens live only in palloc'd buffers that callers wipe with
 * shopify_free_secret(); nothing here logs a token or puts one in an error.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/base64.h"
#include "miscadmin.h"
#include "port.h"
#include "storage/fd.h"

#include "base/crypto.h"
#include "base/settings.h"

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define FORMAT_V1 0x01

static unsigned char token_key[KEY_LEN];
static bool token_key_loaded = false;
static char token_key_id[17];

static char *
key_file_path(void)
{
	const char *f = shopify_token_key_file;

	if (f == NULL || f[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("shopify_sync.token_key_file is empty")));
	if (is_absolute_path(f))
		return pstrdup(f);
	return psprintf("%s/%s", DataDir, f);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Write a new random key to path; returns false if path already exists. */
static bool
create_key_file(const char *path)
{
	unsigned char raw[KEY_LEN];
	char		hex[KEY_LEN * 2 + 2];
	char	   *tmp = psprintf("%s.tmp.%d", path, MyProcPid);
	int			fd;
	int			i;
	bool		created;

	if (!pg_strong_random(raw, KEY_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random token key")));
	for (i = 0; i < KEY_LEN; i++)
		snprintf(hex + i * 2, 3, "%02x", raw[i]);
	hex[KEY_LEN * 2] = '\n';
	hex[KEY_LEN * 2 + 1] = '\0';
	explicit_bzero(raw, sizeof(raw));

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create token key file \"%s\": %m", tmp)));
	if (write(fd, hex, KEY_LEN * 2 + 1) != KEY_LEN * 2 + 1 || pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		close(fd);
		unlink(tmp);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write token key file \"%s\": %m", tmp)));
	}
	close(fd);
	explicit_bzero(hex, sizeof(hex));

	created = (link(tmp, path) == 0);
	if (!created && errno != EEXIST)
	{
		int			save_errno = errno;

		unlink(tmp);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create token key file \"%s\": %m", path)));
	}
	unlink(tmp);
	pfree(tmp);
	if (created)
		ereport(LOG,
				(errmsg("shopify_sync: created token key file \"%s\"", path),
				 errdetail("Back it up: stored access tokens cannot be decrypted without it.")));
	return created;
}

static void
read_key_file(const char *path)
{
	int			fd;
	struct stat st;
	char		buf[256];
	ssize_t		n;
	int			i;
	unsigned char sha[SHA256_DIGEST_LENGTH];

	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open token key file \"%s\": %m", path)));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("token key file \"%s\" is not a regular file", path)));
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("token key file \"%s\" has group or world access", path),
				 errhint("Run chmod 0600 on the file; it must be readable by the server's operating system user only.")));
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read token key file \"%s\": %m", path)));
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';

	if (n == KEY_LEN * 2)
	{
		for (i = 0; i < KEY_LEN; i++)
		{
			int			hi = hexval(buf[2 * i]);
			int			lo = hexval(buf[2 * i + 1]);

			if (hi < 0 || lo < 0)
				break;
			token_key[i] = (unsigned char) (hi * 16 + lo);
		}
		if (i < KEY_LEN)
			n = -1;
	}
	else
		n = -1;
	explicit_bzero(buf, sizeof(buf));
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("token key file \"%s\" is malformed", path),
				 errdetail("The file must hold exactly 64 hexadecimal digits (a 256-bit key).")));

	SHA256(token_key, KEY_LEN, sha);
	for (i = 0; i < 8; i++)
		snprintf(token_key_id + i * 2, 3, "%02x", sha[i]);
	token_key_loaded = true;
}

/* Load the key, creating the key file on first use. */
static void
ensure_key(void)
{
	char	   *path;
	struct stat st;

	if (token_key_loaded)
		return;
	path = key_file_path();
	if (stat(path, &st) != 0)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat token key file \"%s\": %m", path)));
		(void) create_key_file(path);
	}
	read_key_file(path);
	pfree(path);
}

const char *
shopify_token_key_id(void)
{
	ensure_key();
	return token_key_id;
}

/*
 * Encrypt a token for the store with the given domain.  Returns a palloc'd
 * bytea; *key_id is set to the fingerprint of the key used.
 */
bytea *
shopify_encrypt_token(const char *token, const char *shop_domain, const char **key_id)
{
	EVP_CIPHER_CTX *ctx;
	int			tlen = strlen(token);
	bytea	   *out;
	unsigned char *p;
	int			len1 = 0,
				len2 = 0;
	bool		ok;

	ensure_key();
	out = palloc(VARHDRSZ + 1 + NONCE_LEN + tlen + TAG_LEN);
	p = (unsigned char *) VARDATA(out);
	p[0] = FORMAT_V1;
	if (!pg_strong_random(p + 1, NONCE_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random nonce")));

	ctx = EVP_CIPHER_CTX_new();
	ok = ctx != NULL &&
		EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		EVP_EncryptInit_ex(ctx, NULL, NULL, token_key, p + 1) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &len1, (const unsigned char *) shop_domain,
						  strlen(shop_domain)) == 1 &&
		EVP_EncryptUpdate(ctx, p + 1 + NONCE_LEN, &len1,
						  (const unsigned char *) token, tlen) == 1 &&
		EVP_EncryptFinal_ex(ctx, p + 1 + NONCE_LEN + len1, &len2) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
							p + 1 + NONCE_LEN + len1 + len2) == 1;
	if (ctx)
		EVP_CIPHER_CTX_free(ctx);
	if (!ok || len1 + len2 != tlen)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not encrypt the access token")));
	SET_VARSIZE(out, VARHDRSZ + 1 + NONCE_LEN + tlen + TAG_LEN);
	if (key_id)
		*key_id = token_key_id;
	return out;
}

/*
 * Decrypt a token stored for the store with the given domain.  Returns a
 * palloc'd NUL-terminated string, to be released with shopify_free_secret().
 * Fails with a clear error when the key is not the one that encrypted it.
 */
char *
shopify_decrypt_token(const bytea *ct, const char *shop_domain, const char *stored_key_id)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(ct);
	int			n = VARSIZE_ANY_EXHDR(ct);
	int			clen = n - 1 - NONCE_LEN - TAG_LEN;
	EVP_CIPHER_CTX *ctx;
	char	   *out;
	int			len1 = 0,
				len2 = 0;
	bool		ok;

	ensure_key();
	if (clen < 0 || p[0] != FORMAT_V1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored access token of store \"%s\" is malformed", shop_domain),
				 errhint("Reconnect the store with shopify_connect_store().")));

	out = palloc(clen + 1);
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx != NULL &&
		EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		EVP_DecryptInit_ex(ctx, NULL, NULL, token_key, p + 1) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &len1, (const unsigned char *) shop_domain,
						  strlen(shop_domain)) == 1 &&
		EVP_DecryptUpdate(ctx, (unsigned char *) out, &len1,
						  p + 1 + NONCE_LEN, clen) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
							(void *) (p + 1 + NONCE_LEN + clen)) == 1 &&
		EVP_DecryptFinal_ex(ctx, (unsigned char *) out + len1, &len2) == 1;
	if (ctx)
		EVP_CIPHER_CTX_free(ctx);
	if (!ok || len1 + len2 != clen)
	{
		explicit_bzero(out, clen + 1);
		pfree(out);
		if (stored_key_id != NULL && strcmp(stored_key_id, token_key_id) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PASSWORD),
					 errmsg("access token of store \"%s\" cannot be decrypted", shop_domain),
					 errdetail("It was encrypted with key %s; this server's key (shopify_sync.token_key_file) is %s.",
							   stored_key_id, token_key_id),
					 errhint("Install the original key file, or reconnect the store with a new token.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PASSWORD),
				 errmsg("access token of store \"%s\" cannot be decrypted", shop_domain),
				 errdetail("The ciphertext does not authenticate with this server's key."),
				 errhint("Reconnect the store with shopify_connect_store().")));
	}
	out[clen] = '\0';
	return out;
}

void
shopify_free_secret(char *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	pfree(secret);
}

/*
 * Does signature_b64 equal base64(HMAC-SHA256(secret, body))?  Compared in
 * constant time over the decoded digest.  An empty secret never verifies.
 */
bool
shopify_hmac_verify(const char *secret, const char *body, size_t body_len,
					const char *signature_b64)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	unsigned char given[64];
	int			siglen;
	int			glen;

	if (secret == NULL || secret[0] == '\0' || signature_b64 == NULL)
		return false;
	siglen = strlen(signature_b64);
	if (siglen == 0 || siglen > 64 || pg_b64_dec_len(siglen) > (int) sizeof(given))
		return false;
	glen = pg_b64_decode(signature_b64, siglen, (char *) given, sizeof(given));
	if (HMAC(EVP_sha256(), secret, strlen(secret),
			 (const unsigned char *) body, body_len, mac, &maclen) == NULL)
		return false;
	if (glen != (int) maclen)
		return false;
	return CRYPTO_memcmp(mac, given, maclen) == 0;
}
