/*
 * dsctl: the command-line tool over the ngx_ds core. Each command
 * family lives in its own file; main() in dsctl.c only dispatches.
 * Exit codes: 0 ok, 1 the check failed (bad policy, tampered audit
 * file...), 2 usage or environment error.
 */

#ifndef DSCTL_H
#define DSCTL_H

#include <stdint.h>

#include <jansson.h>

#define DSCTL_OK        0
#define DSCTL_FAIL      1
#define DSCTL_USAGE     2

int dsctl_policy(int argc, char **argv);     /* dsctl_policy.c */
int dsctl_token(int argc, char **argv);      /* dsctl_token.c */
int dsctl_audit(int argc, char **argv);      /* dsctl_audit.c */

/* dsctl_audit.c: one CSV field on stdout, quoted only when it must be */
void dsctl_csv_field(const char *s);

/* dsctl_audit_daily.c: audit report --csv, per day and recipient */
typedef struct dsctl_daily_s  dsctl_daily_t;

dsctl_daily_t *dsctl_daily_new(void);
void dsctl_daily_free(dsctl_daily_t *d);
void dsctl_daily_request(dsctl_daily_t *d, int64_t time_ms,
    const char *recipient, int allow, int64_t bytes, int64_t files,
    int64_t file_bytes);
/* 1: r is an alert record (counted when in [from, to)), 0: it is not */
int dsctl_daily_alert(dsctl_daily_t *d, json_t *r, int64_t from,
    int64_t to);
int dsctl_daily_print(dsctl_daily_t *d, int64_t from, int64_t to);
int dsctl_revoke(int argc, char **argv);     /* dsctl_revoke.c */
int dsctl_unrevoke(int argc, char **argv);   /* dsctl_revoke.c */
int dsctl_access(int argc, char **argv);     /* dsctl_access.c */
int dsctl_files(int argc, char **argv);      /* dsctl_files.c */
int dsctl_profile(int argc, char **argv);    /* dsctl_profile.c */

/* a new file of mode 0600 holding text and "\n"; never overwrites */
int dsctl_write_profile(const char *file, const char *text);

/*
 * dsctl_audit.c: for dsctl revoke --audit, until when the file links
 * handed to a recipient or token (kind "recipient"/"token") stay
 * usable, from the disclosure records of the audit files; printed.
 */
int dsctl_audit_exposure(const char *kind, const char *id,
    const char *const *files, int nfiles);

#endif /* DSCTL_H */
