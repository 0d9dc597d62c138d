// Package install applies verified payloads to disk and rolls them back,
// transactionally: a crash (kill -9, power loss after the last fsync) at any
// point leaves either the old or the new state, and the next Recover
// finishes or undoes the interrupted step.
//
// # Trust model
//
// install knows nothing of signatures or metadata. Its caller has already
// checked the payload's length and hashes against signed metadata; install
// applies those bytes and nothing else. It still treats the archive as
// hostile, because a compromised or careless publisher key must not be
// enough to write outside the version directory: every entry is checked by
// ValidateArchive before a single byte is written, and extraction goes
// through an os.Root that never follows a link out of it.
//
// Archives are refused (with an *ArchiveError naming the entry and a
// Problem) for absolute paths, ".." components, names that are not clean
// (empty components, "." components, backslashes), NUL or invalid UTF-8 in
// names, devices, fifos and any type other than file, directory, symbolic
// link and hard link, duplicate paths, entries below a link or a file,
// symbolic links that resolve outside the version directory (following the
// archive's own links, at most 40), hard links to anything but an earlier
// regular file, entries over Limits.MaxFileSize, more than Limits.MaxEntries
// entries, and an expanded size over Limits.MaxTotalSize (also enforced on
// the decompressed stream, so a gzip bomb stops at the limit), and more than
// 524,288 path parts in all names and link targets together. Validation
// is linear in the archive: entries form a tree with one node per path
// part, and each symbolic link is resolved once and its result kept, so a
// small archive of links through paths thousands of parts deep costs
// milliseconds, not the hours that re-walking every prefix cost. Modes are
// reduced to 0644 or 0755: no setuid, setgid, sticky or world-writable bits;
// owners and times are not restored.
//
// Names used as directories, component names and version ids, must match
// [a-z0-9][a-z0-9.+-]* without ".." (at most 128 characters), else a
// *NameError is returned before anything is touched.
//
// # Layout
//
//	<root>/.bsi/lock                    flock held during every change
//	<root>/.bsi/journal.json            the operation in progress, if any
//	<root>/<component>/current          symlink -> versions/<id>; absent: the baseline
//	<root>/<component>/versions/<id>/   one extracted payload per version
//
// Temporary names, all removed by Recover: versions/.tmp-<id>-<rand>
// (extraction), versions/.trash-<id>-<rand> (removal), current.tmp-<rand>
// (the link that replaces current), .bsi/journal.json.tmp-<rand>.
//
// # Journal
//
// Before it changes anything, Install or Rollback writes its intent
// atomically (temporary file, fsync, rename, fsync of the directory):
//
//	{
//	  "op": "install",
//	  "component": "webkit",
//	  "id": "26.3-b",
//	  "from": "26.3-a",
//	  "temp": ".tmp-26.3-b-5f0c2a9e41d7",
//	  "keep_previous": true,
//	  "state": "extracting",
//	  "steps": [
//	    "extract and sync versions/.tmp-26.3-b-5f0c2a9e41d7",
//	    "rename versions/.tmp-26.3-b-5f0c2a9e41d7 to versions/26.3-b",
//	    "switch current to versions/26.3-b",
//	    "health check",
//	    "remove other versions"
//	  ]
//	}
//
// The steps are for people; recovery goes by the state and by what is on
// disk. Install rewrites the state to "extracted" once the temporary directory is
// complete and synced, and to "undoing" if the health check fails. Every
// later step checks what is already done, so it can be repeated; Recover
// undoes an "extracting" or "undoing" install, finishes an "extracted" one
// (running the health check), and always finishes a rollback ("switching").
// The journal is removed when the operation is complete; while one is
// present, Install, Rollback and Remove fail with ErrRecoveryNeeded.
//
// # Errors
//
// An operation that fails with an error (a full, read-only or failing
// disk) before its switch undoes itself before it returns: the temporary
// directory, the new version and the journal are removed (an install
// past "extracted" records "undoing" first). When the undo fails too, or
// when only clean-up after the switch failed (removing old versions or the
// journal, syncing a directory), the journal stays; Pending reports it,
// and Recover, at the next start, repeats those steps and finishes or
// undoes the operation.
//
// # Switching
//
// The current link is replaced, never modified: a new link
// current.tmp-<rand> -> versions/<id> is created, its directory fsynced,
// and it is renamed over current (rename is atomic), then the directory is
// fsynced again. A version is removed by renaming it to a trash name first,
// so no directory under a version's name is ever half-deleted.
//
// # Example
//
// A device has webkit 26.3-a installed and installs 26.3-b, keeping a:
//
//	in, _ := install.New(install.Options{Root: "/var/lib/bsi/root", KeepPrevious: true})
//	rec, _ := in.Recover(ctx)                 // always first: "nothing pending"
//	err := in.Install(ctx, "webkit", "26.3-b", "/var/cache/bsi/webkit-26.3-b.tar.gz")
//
// leaves
//
//	webkit/current -> versions/26.3-b
//	webkit/versions/26.3-a/...
//	webkit/versions/26.3-b/...
//
// When 26.3-b is withdrawn, in.Rollback(ctx, "webkit", "26.3-a") switches
// current back and deletes versions/26.3-b; in.Rollback(ctx, "webkit", "")
// would instead remove current, returning to the platform's own webkit.
package install
