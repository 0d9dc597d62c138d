// Package witness is a C2SP tlog-witness: an independent party that
// cosigns a log's checkpoints after checking that each one extends the last
// it cosigned, so that a log cannot show two views of its history (a split
// view) to two sets of readers without one witness seeing both.
//
// # Trust model
//
// A witness holds an ed25519 key and a list of the logs it follows (their
// note verifier keys; the origin is the key name). It trusts nobody else:
// a request is checked against the stored checkpoint of its log and the
// log's key, never against anything the requester says about itself. Its
// only state is, per log, the latest checkpoint it cosigned, written
// durably (temporary file, fsync, rename, fsync of the directory) before
// it answers, under a lock, so that two requests cannot roll it back.
//
// # Protocol (c2sp.org/tlog-witness)
//
//	POST /add-checkpoint
//
//	old 4
//	<base64 hash>                (consistency proof from size 4, at most 63 lines)
//	<base64 hash>
//
//	example.com/log              (the checkpoint, c2sp.org/tlog-checkpoint,
//	7                             signed by the log)
//	<base64 root hash>
//
//	— example.com/log <base64 signature>
//
// Answers, in the order the server checks:
//
//	400 Bad Request            the body does not parse, or old is above the checkpoint size
//	404 Not Found              the checkpoint's origin is not a log this witness follows
//	403 Forbidden              no signature verifies with the log's key
//	409 Conflict               old is not the size the witness stored (body: that size and a
//	                           newline, Content-Type text/x.tlog.size), or old equals the
//	                           size but the root hash differs (a fork of the same size)
//	422 Unprocessable Entity   the consistency proof does not verify (a fork, or a rewrite)
//	200 OK                     the body is the witness's note signature line: a
//	                           c2sp.org/tlog-cosignature v1 with a timestamp
//
// The cosignature's timestamp is the witness's clock: it is what devices
// use as an authenticated floor for their own clock (DESIGN.md,
// Transparency).
package witness
