// Package transparency is the shared contract of bsi's transparency log:
// what one log entry says, where the log, the proofs and the policy live in
// a published tree, and (on the device side) how a proof is verified.
//
// The package is pure: it does no I/O and imports only manifest and the
// standard library (and the C2SP formats libraries for proofs). Publishers
// append entries (package transparency/publog), witnesses cosign checkpoints
// (transparency/witness), monitors read the whole log
// (transparency/monitor), devices verify proofs (this package, used by
// agent).
//
// # Entry (the leaf data of the log)
//
// One entry is UTF-8 text, at most [MaxEntrySize] bytes, every line "key
// value" ending in "\n", in exactly this order and with nothing else:
//
//	bsi.tlog-entry/v1
//	kind improvement
//	component webkit
//	path webkit/wk-2026-001.tar.gz
//	length 5120
//	hash sha256 <64 lowercase hex>
//	hash sha512 <128 lowercase hex>        (one line per hash the target lists, sorted by name)
//	manifest-sha256 <64 lowercase hex>     (SHA-256 of manifest.Encode of the target's custom field)
//	role webkit                            (the role that signed the target)
//	role-version 7                         (that role's version in the publish that logged it)
//
// or, for a new root version:
//
//	bsi.tlog-entry/v1
//	kind root
//	version 3
//	length 1789
//	hash sha256 <64 lowercase hex>         (of the exact bytes of 3.root.json)
//
// [ParseEntry] accepts only bytes that [Entry.Marshal] would produce, so
// one entry cannot be read two ways. The leaf hash is RFC 6962's
// SHA-256(0x00 || entry bytes).
//
// # Layout in a published tree
//
//	tlog/checkpoint          the log's latest checkpoint with witness cosignatures (C2SP tlog-checkpoint, tlog-cosignature)
//	tlog/tile/...            the log's tiles and entry bundles (C2SP tlog-tiles)
//	tlog-policy              a TUF target listed by the top-level targets role: the C2SP tlog-policy
//	                         naming the log key, the witnesses and the quorum
//	targets/<dir>/<sha256>.<name>.tlog-proof
//	                         beside each payload: a C2SP tlog-proof whose "extra" line is the
//	                         entry (base64), its index, the inclusion proof and the cosigned checkpoint
//
// A device that has a policy installs an improvement only if its proof
// verifies against the policy (log signature, witness quorum), the entry in
// "extra" equals what the signed targets metadata says (component, path,
// length, every hash, manifest hash), the inclusion proof leads from that
// entry to the checkpoint's root, and the checkpoint is not older than the
// last one the device accepted. Any failure is a *TransparencyError
// (security, exit 3).
//
// # Verifying on the device
//
// [ParsePolicy] reads the policy (one "log" line, whose key name is the
// checkpoint origin; witness lines with cosignature/v1 keys, URLs
// optional; groups; a quorum other than "none"). [Policy.VerifyCheckpoint]
// checks a cosigned checkpoint (at most [MaxCheckpointSize] bytes): the
// log's signature and origin, every policy witness's cosignature (a forged
// one fails the note), canonical signature encoding, and the quorum.
// [Policy.VerifyProof] checks a proof for one signed [Target], in order:
//
//  1. [ParseProof]: a canonical C2SP tlog-proof of at most [MaxProofSize]
//     bytes, checked before parsing;
//  2. its checkpoint, as above;
//  3. the entry in "extra" parses and [Entry.Match]es the target;
//  4. the RFC 6962 inclusion proof of SHA-256(0x00 || entry) at "index"
//     leads to the checkpoint's root hash;
//  5. [Checkpoint.NotOlder] than the device's [Accepted] checkpoint.
//
// # Trusted time
//
// A cosignature v1 signs "cosignature/v1\ntime T\n" and the checkpoint:
// the witness vouches that T had been reached. [TimeFloor] is the largest T
// such that the policy's quorum holds among the witnesses that cosigned at
// T or later; with witnesses cosigning at 10:00, 10:05 and 23:00 and a
// quorum of two, it is 10:05: one witness alone cannot move it. A device
// keeps the largest floor it verified and checks expiry against
// [Now](clock, floor). The floor is a lower bound of the true time, not a
// clock: it rises only when the device verifies a newer cosigned
// checkpoint.
package transparency
