// Package client is the verifying core of a bsi device: a client of The
// Update Framework (TUF, specification 1.0.x, section 5) that refreshes a
// repository's metadata, finds targets through the delegation graph and
// downloads them, refusing anything unsigned, stale, replayed or
// oversized. It imports no signing code and no key management.
//
// # Trust model
//
// The only thing trusted a priori is root.json in the metadata directory,
// installed out of band with Init (which checks that it is signed by a
// threshold of its own root keys). Everything else is believed because a
// chain of signatures from that root vouches for it:
//
//	root       -> keys and thresholds of root, timestamp, snapshot, targets
//	timestamp  -> version (and maybe length, hashes) of snapshot.json
//	snapshot   -> version (and maybe length, hashes) of every targets file
//	targets    -> target files, and delegations to other roles by path
//
// Refresh walks that chain in the order of the specification: the root
// chain N+1, N+2... each signed by the old and the new root keys (5.3),
// the timestamp (5.4), the snapshot (5.5) and the top-level targets
// (5.6). Versions never go down (rollback), expired metadata is refused
// (freeze, checked against one reference time taken at the start), and a
// rotation of the timestamp or snapshot keys discards the stored
// timestamp and snapshot (fast-forward recovery, 5.3.11). Lookup and
// Targets run the pre-order depth-first search of 5.6.7 through
// delegations (paths, path_hash_prefixes, succinct hash bins, terminating
// roles, cycles skipped, at most Limits.MaxDelegations roles), loading
// each delegated role against the snapshot and its delegator's keys.
// Download streams a target through its length and hashes, after
// refusing one longer than Limits.TargetMax or the free space where it
// would be written.
//
// # Components
//
// A device decides per component: Components returns one entry per
// delegation of the top-level targets role, with its targets and its own
// error. Roles are verified per delegation edge (a role reached through a
// second delegator is verified against that delegator's keys too), the
// direct delegations of targets before any nested one, so that a nested
// role claiming a component's name ("webkit" delegating a role named
// "safari") is checked against the nested delegator's keys and fails as
// the nested delegator's component. An expired, unlisted, forged or
// oversized role (succinct bins are counted before they are named) is the
// error of the component whose subtree holds it, never of another, and
// never a silent loss of targets. MUSTS.md maps every MUST of the
// specification to the function that enforces it and its test.
//
// The verifying core is a pure state machine (trustedSet: bytes in,
// verified values out, no I/O, no clock); the Client around it fetches
// with its own http.Client, enforces every length limit itself with
// io.LimitReader, and persists each file as the exact bytes received,
// atomically, only after it verified. Rejected metadata never replaces
// trusted metadata.
//
// # Errors
//
// Security failures (*SignatureError, *DuplicateSignatureError,
// *RollbackError, *VersionError, *HashError, *LengthError,
// *DelegationError, *FormatError) wrap trust.ErrSecurity; *ExpiredError
// wraps trust.ErrFreshness; *FetchError, *TargetSizeError and
// *NotFoundError are operational. Each carries the role or path, the
// versions and the keys involved:
//
//	timestamp: version 7 is lower than trusted 9
//	snapshot: version 12 expired at 2030-01-09T03:04:05Z (now 2030-01-10T00:00:00Z)
//	targets: version 3 has 0 of 1 required signatures by keys of root v2 (valid: none)
//
// # Metadata directory
//
// The directory holds root.json, timestamp.json, snapshot.json,
// targets.json and one file per delegated role, named by the role with
// every byte outside [A-Za-z0-9_-] percent-encoded and a leading "."
// encoded too ("../x" is stored as "%2E.%2Fx.json"), so no role name can
// leave the directory. In URLs role names are fully percent-encoded
// ("../x" is fetched as "..%2Fx.json", or "3...%2Fx.json" with consistent
// snapshots). Metadata and target URLs are opaque prefixes joined with
// exactly one "/".
//
// Besides the role files, the directory holds .verified-state, the
// verified-state record: for the timestamp and each snapshot or
// targets-family file verified in full, the SHA-256 of its stored bytes,
// its version and expiry, and the SHA-256 of the file whose keys verified
// it. A refresh always fetches a timestamp, verifies it unless it is byte
// for byte the stored one that the current root's timestamp keys verified
// (the same bytes under the same keys verify the same way), and checks
// every expiry; when the chain it just verified lists the same version of
// a stored file whose bytes still hash to the record, under an unchanged
// signer, it trusts that file without decoding or verifying it again. The
// stored root.json too is trusted through the record when its bytes are
// those that verified (by its own keys). A refresh when nothing changed
// costs one timestamp download and no signature check, whatever the size
// of targets.json. Such a file is not decoded whole either: the
// snapshot is read one meta entry at a time (the ones a look-up needs),
// and a targets role one target entry at a time, its bytes scanned where
// they lie (a file with a key encoding/json would fold onto a field is
// decoded in full instead). Anything that does not match falls back to
// full verification, and a stored file that fails it is fetched again.
//
// A role file of 64 KiB or more whose target paths are sorted (canonical
// JSON sorts them) also gets a look-up index, .verified-state.<file>,
// whose SHA-256 the record holds: the file cut into segments, each with
// its SHA-256, and the keys of anchor entries that start a segment, about
// one every sqrt(80 * size) bytes of signed.targets, at most 64 KiB (43
// KiB in a 22 MiB role). A warm look-up binary-searches the anchor keys in the index,
// then reads the one segment between two anchors, hashes it against the
// index and scans it (about 0.1 MiB read and hashed in all, index
// included, of a 22 MiB role of 100,000 targets); a segment that does not
// match, or does not start with its anchor's key, makes the look-up drop
// the index and verify the role in full, as above. No byte of the role is
// trusted unhashed. An index in an older format is not read, and is
// rewritten when the role is next loaded in full.
//
// # Example
//
// A device installs the root once, then refreshes and downloads:
//
//	if err := client.Init("/var/lib/bsi/metadata", rootJSON, time.Now()); err != nil { ... }
//	c, err := client.New(client.Config{
//		MetadataDir: "/var/lib/bsi/metadata",
//		MetadataURL: "https://updates.example.com/metadata",
//		TargetsURL:  "https://updates.example.com/targets",
//	})
//	if err := c.Refresh(ctx); err != nil { ... } // exit 3 on errors.Is(err, trust.ErrSecurity)
//	t, err := c.Lookup(ctx, "webkit/26.3-a.tar.gz")
//	// t.Roles == ["targets", "webkit"]; t.Custom holds the improvement manifest
//	err = c.Download(ctx, t, "/var/cache/bsi/webkit-26.3-a.tar.gz")
package client
