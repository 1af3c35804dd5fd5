/* Runtime version report: asks each library for its own version at run time. */
#include "ktaudit/version.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#ifndef KTA_VERSION_STRING
#error "KTA_VERSION_STRING must be defined by the build"
#endif

const char *kta_version(void)
{
	return KTA_VERSION_STRING;
}

void kta_versions_get(struct kta_versions *out)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

	out->ktaudit = KTA_VERSION_STRING;
	out->openssl = OpenSSL_version(OPENSSL_VERSION);
	out->curl = cv != NULL && cv->version != NULL ? cv->version : "unknown";
	out->curl_ssl = cv != NULL && cv->ssl_version != NULL ? cv->ssl_version : "";
	out->jansson = jansson_version_str();
	out->sqlite = sqlite3_libversion();
}
