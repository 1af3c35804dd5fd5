/*
 * ktaudit: the auditor as a witness (issue 5, "The auditor as a witness").
 *
 * After a cycle verified a checkpoint and replayed every entry up to it
 * without a critical finding, the monitor (monitor.h) cosigns it with the
 * auditor's own cosignature/v1 key (c2sp.org/tlog-cosignature, from
 * `ktaudit keygen --witness`) and publishes the cosigned note as a static
 * file:
 *
 *   publish directory                 | file
 *   ----------------------------------+-----------------------------------
 *   per log `publish_dir DIR`         | DIR/checkpoint
 *   global `publish_dir DIR`          | DIR/<log dir>/checkpoint, <log dir>
 *                                     | from kta_witness_log_dir
 *
 * The file is the log's signed note, byte for byte, followed by the
 * auditor's cosignature line: a client or publisher reads it as any
 * checkpoint (`ktaudit verify checkpoint --witness VKEY`), a peer auditor
 * verifies it with gossip.h. It is replaced atomically (file.h), mode 0644.
 *
 * Ownership: kta_witness_load_key allocates *out (free with
 * kta_skey_free). Nothing else allocates.
 */
#ifndef KTAUDIT_WITNESS_H
#define KTAUDIT_WITNESS_H

#include <stddef.h>
#include <stdint.h>

#include "ktaudit/error.h"
#include "ktaudit/key.h"

/* Largest witness key file, in bytes. */
#define KTA_WITNESS_KEY_FILE_MAX 4096
/* Longest <log dir> name (a log name is at most 256 bytes). */
#define KTA_WITNESS_LOG_DIR_MAX 256

/*
 * Reads the secret key file at path (one line, "PRIVATE+KEY+..."), which
 * must be a KTA_KEY_COSIGNATURE_V1 key. Errors: KTA_ERR_IO (cannot read),
 * KTA_ERR_MALFORMED (not a key, or not a cosignature/v1 key; the message
 * never quotes the seed), KTA_ERR_LIMIT, KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_witness_load_key(const char *path, struct kta_skey **out,
					     struct kta_error *err) KTA_WUR;

/*
 * The subdirectory of a global publish directory for log `name`: every
 * byte outside [A-Za-z0-9.-] becomes '_' ("example.com/dir" ->
 * "example.com_dir"); a name of only dots ("." or "..") becomes "_" for
 * each dot. out gets the NUL-terminated result. KTA_ERR_USAGE when name is
 * empty, KTA_ERR_LIMIT when longer than KTA_WITNESS_LOG_DIR_MAX or cap.
 */
KTA_API enum kta_status kta_witness_log_dir(const char *name, char *out, size_t cap,
					    struct kta_error *err) KTA_WUR;

/*
 * Writes note (len bytes) to dir/checkpoint atomically (temp file, fsync,
 * rename, fsync of dir), creating dir (0755) if needed. Errors: KTA_ERR_IO,
 * KTA_ERR_LIMIT (path too long), KTA_ERR_NOMEM.
 */
KTA_API enum kta_status kta_witness_publish(const char *dir, const uint8_t *note, size_t len,
					    struct kta_error *err) KTA_WUR;

#endif
