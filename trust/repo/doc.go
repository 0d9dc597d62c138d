// Package repo is the publisher side of bsi: a workspace in which role
// metadata is edited, signed by thresholds of offline keys, and published
// as a static TUF repository with consistent snapshots, kept fresh by the
// online snapshot and timestamp keys.
//
// # Trust model
//
// Root (offline, k of n keys) lists the keys of root, targets, snapshot and
// timestamp. Targets (offline or team-held) delegates each component to its
// own role with paths "<component>/*"; a very large component can delegate
// further to 2^k succinct hash bins named "<component>.bin-<hex>", signed by
// the component's keys. Every improvement is one target
// "<component>/<id>.tar.gz" (or ".tar") with its length, its sha256 (and
// sha512 too when the workspace asks for it: InitOptions.Hashes,
// SetHashes) and its manifest under custom.bsi, so that it travels inside
// signed metadata.
// Snapshot and timestamp are signed by online keys, referenced (a key file
// or a KMS URI) in the workspace configuration and resolved through
// Options.LoadSigner; nothing else in the workspace is secret. An optional
// "rollout" role, delegated by targets with paths "rollout/*/*" and signed
// by its own online key, lists one schedule "rollout/<component>/<id>.json"
// per gated improvement (package rollout; EnableRollout, StartRollout).
//
// Every change bumps the changed role's version once per editing session
// (until the next publish) and clears its signatures; the role is then
// pending until a threshold of its keys has signed it again. A new root
// version must be signed by a threshold of the previous root's keys and of
// its own. Publish refuses pending and expired roles.
//
// # What a signer sees
//
// Every signing operation (Sign, Add and Withdraw with signers, Delegate
// with signers, ImportSignatures, Rotate) first computes a Summary: each
// role's change since its last published version, which is read from
// Options.Published (DIR/public by default) and verified against the last
// published version of its delegator (a root against its own keys); a role
// never published, or whose published version cannot be read or verified,
// is shown whole. Options.Confirm sees it and may refuse (*DeclinedError,
// nothing signed). On the air-gapped machine, CheckFile checks a root file
// against the signer's own copy of the last trusted root (version N+1, an
// expiry floor, no threshold lowered, a key of the new or the trusted root)
// and returns the same kind of summary.
//
// # Layout
//
//	DIR/workspace.json           configuration: online key references, expiry
//	                             periods, components (bins, sequence index),
//	                             roles changed since the last publish and the
//	                             targets they changed, and a read-only mirror
//	                             of key ids per role
//	DIR/rollout.json             the online rollout key reference, when
//	                             targets delegates the rollout role
//	DIR/metadata/<role>.json     each role as edited and signed (the exact
//	                             bytes that are published)
//	DIR/metadata/roots/N.root.json  every earlier published root
//	DIR/content/<sha256>         payloads, by hash
//	DIR/public/                  default publish destination
//	DIR/.lock                    flock(2) held by the process using the
//	                             workspace, with its pid and start time
//
// Every file is written atomically (temporary file, rename). The content
// and role files of one operation are then made durable together (an
// fsync of each file and directory, several at once), and only then is
// workspace.json, which records them, replaced and synced. A failed
// operation leaves the workspace as it was.
//
// # Confinement
//
// Anyone who can write to the workspace or a directory destination may
// have planted links there, so no write follows one: the lock is opened
// with O_NOFOLLOW and must be a regular file of one link (it is never
// truncated); a commit journal may name only bsi's own files
// (workspace.json, metadata/<role>.json, metadata/roots/N.root.json,
// content/<sha256>) and is replayed through an os.Root on DIR with no
// link on the way; a directory destination (and a plain file:// URL) is
// written through an os.Root, so a "targets" link cannot take payloads
// outside it; a DIR/public that is a link is refused; exports and signed
// role files replace their name (temporary file and rename) and never
// write through a link. A refusal is an *UnsafeFileError.
//
// # Verifying before signing
//
// The snapshot pins the length and sha256 of every targets-family file.
// Before the online keys sign, Publish verifies the tree it is about to
// publish as a device would (verify.go): the root chain from the root the
// destination serves (or root v1), each role the destination does not
// serve yet and its delegators against the keys their delegator lists,
// versions not below the destination's, and every new payload's length
// and hashes in the content store; Refresh verifies the workspace's
// snapshot with the snapshot keys and requires the destination to serve
// exactly the workspace's last publish. A failure is a *VerifyError
// (security) or, for the wrong destination, a *DestinationError; nothing
// is signed or written.
//
// # Published tree
//
//	1.root.json … N.root.json, root.json
//	N.targets.json, N.<component>.json, N.<component>.bin-<hex>.json
//	N.snapshot.json
//	timestamp.json
//	targets/<component>/<sha256>.<id>.tar.gz (and .../<sha512>.<id>.tar.gz)
//
// A payload is published once per hash its entry lists: with sha256 alone
// (the default), once. With sha512 listed too, a directory destination
// makes the second name a hard link to the first, so the bytes are stored
// once (a copy when the link fails, e.g. across file systems); an object
// store has no links and gets each name uploaded. The content store keeps
// one copy of each payload, named by its sha256, whatever is listed. The
// bytes Publish writes are those it verified against the entry before
// signing, read from the content store once.
//
// Publish writes payloads, then delegated roles, targets, root versions,
// the snapshot and the timestamp last, so a client never sees a timestamp
// that points at a file not yet there. In a directory, everything before
// timestamp.json (new names that nothing points at yet) is made durable by
// one barrier before timestamp.json is written: an fsync of each file and
// directory, or past 256 files one syncfs(2) per file system holding them.
// A publish of many payloads (64 names or more) to a directory writes them
// as one batch on GOMAXPROCS workers, each relative to its directory
// opened once through the destination's os.Root: an unnamed file
// (O_TMPFILE) linked under its name once complete, or, where that is not
// available, a temporary file of .bsi-tmp renamed over it. Only the roles whose
// version differs from the destination's current snapshot are written, and
// only the payloads their previous published version did not list: the
// workspace remembers which targets each role changed since the last
// publish, so the previous version is read back only from a destination
// that missed that publish.
//
// # Cost
//
// Work is proportional to what changed, not to the repository: adding one
// improvement to a component of 100,000 in 256 bins and publishing decodes
// root, snapshot, timestamp, targets, the component role and one bin, and
// writes the payload (under both hashes), that bin, the snapshot and the
// timestamp. Role files are decoded in one pass when they hold only fields
// go-tuf knows, and canonical JSON is produced in one pass over the
// encoded bytes (a role of more than 4,096 entries in pieces written
// concurrently). A publish loads and canonicalises the roles it must check
// (the 256 bins of a fresh publish), and checks payloads against their
// entries, on GOMAXPROCS workers; each role file is read once per session.
//
// # Worked example
//
//	ws, _ := repo.Init(ctx, "ws", opts, repo.InitOptions{
//		RootKeys: []*metadata.Key{r1, r2, r3}, RootThreshold: 2,
//		TargetsKeys: []*metadata.Key{t1},
//		SnapshotKey: "snapshot.key", TimestampKey: "awskms:///alias/bsi-ts"})
//	ws.Delegate(ctx, "webkit", repo.DelegateOptions{Keys: []*metadata.Key{w1}})
//	ws.Add(ctx, repo.AddRequest{Manifest: m, Payload: "fix.tar.gz"})
//	ws.Sign(ctx, root1Signer)   // root v1
//	ws.Sign(ctx, root2Signer)   // root v1: 2 of 3
//	ws.Sign(ctx, targetsSigner) // targets v1
//	ws.Sign(ctx, webkitSigner)  // webkit v1
//	ws.Publish(ctx, dest)       // snapshot v1, timestamp v1
//	ws.Refresh(ctx, dest, repo.RefreshOptions{}) // timestamp v2, daily
package repo
